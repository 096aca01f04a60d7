//! List continue tokens in kube-apiserver's format.
//!
//! base64 RawURL of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key after prefix>"}`
//! (k8s.io/apiserver/pkg/storage/continue.go). `start` is relative to the
//! list prefix and cleaned like `path.Clean` so a token cannot escape it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Token {
    v: String,
    rv: i64,
    start: String,
}

/// Encode the token for a next page starting at `next_key` (absolute).
pub fn encode(next_key: &str, rv: i64, key_prefix: &str) -> String {
    let start = next_key.strip_prefix(key_prefix).unwrap_or(next_key);
    let token = Token {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
    };
    // Serializing a struct of strings and an integer cannot fail.
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decode a token: returns (absolute start key, revision).
pub fn decode(token: &str, key_prefix: &str) -> Result<(String, i64), String> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| format!("continue key is not valid: {e}"))?;
    let t: Token = serde_json::from_slice(&raw).map_err(|e| format!("continue key is not valid: {e}"))?;
    if t.v != "meta.k8s.io/v1" {
        return Err("continue key is not valid: server does not recognize this encoded key".into());
    }
    if t.rv == 0 {
        return Err(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
        );
    }
    if t.start.is_empty() {
        return Err("continue key is not valid: encoded start key empty (version meta.k8s.io/v1)".into());
    }
    // path.Clean("/" + start), keeping a trailing "\0" suffix intact.
    let cleaned = clean_path(&format!("/{}", t.start));
    let rel = cleaned.trim_start_matches('/');
    if rel.is_empty() {
        return Err("continue key is not valid: encoded start key empty (version meta.k8s.io/v1)".into());
    }
    Ok((format!("{key_prefix}{rel}"), t.rv))
}

fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_matches_kube_format() {
        let t = encode("/registry/pods/default/b\u{0}", 42, "/registry/pods/");
        let json = URL_SAFE_NO_PAD.decode(&t).expect("base64");
        assert_eq!(
            String::from_utf8(json).expect("utf8"),
            r#"{"v":"meta.k8s.io/v1","rv":42,"start":"default/b\u0000"}"#
        );
        let (key, rv) = decode(&t, "/registry/pods/").expect("decode");
        assert_eq!(key, "/registry/pods/default/b\u{0}");
        assert_eq!(rv, 42);
    }

    #[test]
    fn rejects_bad_tokens_and_traversal() {
        assert!(decode("!!!", "/registry/pods/").is_err());
        let zero = URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#);
        assert!(decode(&zero, "/registry/pods/").is_err());
        let trav = URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":3,"start":"../../secrets/x"}"#);
        let (key, _) = decode(&trav, "/registry/pods/").expect("cleaned");
        assert_eq!(key, "/registry/pods/secrets/x");
    }
}
