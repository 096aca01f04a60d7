//! Authentication beyond static tokens, as kube-apiserver does it: client certificates
//! verified against `--client-ca-file` (user = CN, groups = O), and bootstrap tokens
//! (`--enable-bootstrap-token-auth`: `<id>.<secret>` checked against the Secret
//! `kube-system/bootstrap-token-<id>`, user `system:bootstrap:<id>`, group
//! `system:bootstrappers` plus the Secret's `auth-extra-groups`).

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;

use super::secure::UserInfo;
use crate::registry::generic::Store;

/// A client verifier that accepts certificates signed by the CAs in `ca_file` and also
/// connections without any (they may still carry a bearer token).
pub fn verifier(ca_file: &Path) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(ca_file)?)) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()?,
    )
}

/// The user a verified client certificate names.
pub fn user_of_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    groups.push("system:authenticated".into());
    Some(UserInfo {
        name,
        uid: String::new(),
        groups,
    })
}

/// `<6 chars>.<16 chars>` of `[a-z0-9]`.
fn split_bootstrap_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// Whether the bootstrap-token Secret `sec` accepts `id.secret` for authentication at `now`.
pub fn bootstrap_user(sec: &Value, id: &str, secret: &str, now: chrono::DateTime<chrono::Utc>) -> Option<UserInfo> {
    let data = |k: &str| -> Option<String> {
        let b = sec.pointer(&format!("/data/{k}"))?.as_str()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        String::from_utf8(raw).ok()
    };
    if sec.pointer("/type").and_then(Value::as_str) != Some("bootstrap.kubernetes.io/token")
        || data("token-id").as_deref() != Some(id)
        || data("token-secret").as_deref() != Some(secret)
        || data("usage-bootstrap-authentication").as_deref() != Some("true")
    {
        return None;
    }
    if let Some(exp) = data("expiration") {
        let t = chrono::DateTime::parse_from_rfc3339(&exp).ok()?;
        if t.with_timezone(&chrono::Utc) <= now {
            return None;
        }
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    groups.extend(
        data("auth-extra-groups")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from),
    );
    groups.push("system:authenticated".into());
    Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        uid: String::new(),
        groups,
    })
}

/// The user of a bootstrap token, looked up in the store.
pub async fn authenticate_bootstrap_token(store: &Store, token: &str) -> Option<UserInfo> {
    let (id, secret) = split_bootstrap_token(token)?;
    let secrets = crate::registry::resources::find("", "v1", "secrets")?;
    let sec = store
        .get(secrets, Some("kube-system"), &format!("bootstrap-token-{id}"))
        .await
        .ok()?;
    bootstrap_user(&sec, id, secret, chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn bootstrap_tokens_follow_their_secret() {
        let now = chrono::Utc::now();
        let mut sec = json!({"type": "bootstrap.kubernetes.io/token", "data": {
            "token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
            "usage-bootstrap-authentication": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token")}});
        let u = bootstrap_user(&sec, "abcdef", "0123456789abcdef", now).expect("valid");
        assert_eq!(u.name, "system:bootstrap:abcdef");
        assert_eq!(
            u.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated"
            ]
        );
        assert!(
            bootstrap_user(&sec, "abcdef", "0123456789abcdeX", now).is_none(),
            "wrong secret"
        );
        sec["data"]["expiration"] = json!(b64("2020-01-01T00:00:00Z"));
        assert!(
            bootstrap_user(&sec, "abcdef", "0123456789abcdef", now).is_none(),
            "expired"
        );
        sec["data"]["expiration"] = json!(b64("2999-01-01T00:00:00Z"));
        assert!(bootstrap_user(&sec, "abcdef", "0123456789abcdef", now).is_some());
        sec["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        assert!(
            bootstrap_user(&sec, "abcdef", "0123456789abcdef", now).is_none(),
            "not for authentication"
        );
        assert_eq!(
            split_bootstrap_token("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert_eq!(split_bootstrap_token("ABCDEF.0123456789abcdef"), None);
        assert_eq!(split_bootstrap_token("abcdef0123456789abcdef"), None);
    }

    #[test]
    fn certificate_subject_names_the_user() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "system:node:n1");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:nodes");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let u = user_of_certificate(cert.der()).expect("user");
        assert_eq!(u.name, "system:node:n1");
        assert_eq!(u.groups, vec!["system:nodes", "system:authenticated"]);
    }
}
