//! ServiceAccount token controller: every ServiceAccount gets a `kubernetes.io/service-account-token`
//! Secret (`<sa>-token-<5 chars>`: token, ca.crt, namespace) listed in its `secrets`.

use base64::Engine;
use serde_json::{json, Value};

use super::util::{is_deleting, name, namespace, s, uid};
use super::Action;
use crate::registry::service_account::TOKEN_TYPE;

const SA_NAME: &str = "/metadata/annotations/kubernetes.io~1service-account.name";
const SA_UID: &str = "/metadata/annotations/kubernetes.io~1service-account.uid";

fn b64(x: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(x)
}

/// A fresh random bearer token.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The token Secret for `sa`.
pub fn token_secret(sa: &Value, secret_name: &str, token: &str, ca_pem: &[u8]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": secret_name, "namespace": namespace(sa),
            "annotations": {
                "kubernetes.io/service-account.name": name(sa),
                "kubernetes.io/service-account.uid": uid(sa),
            },
        },
        "type": TOKEN_TYPE,
        "data": {"token": b64(token.as_bytes()), "ca.crt": b64(ca_pem), "namespace": b64(namespace(sa).as_bytes())},
    })
}

/// Actions for all ServiceAccounts given all Secrets; `token(sa, secret_name)` makes the token
/// of a new Secret (a signed JWT with a signing key, else a random one).
pub fn reconcile(
    sas: &[Value],
    secrets: &[Value],
    ca_pem: &[u8],
    token: &dyn Fn(&Value, &str) -> String,
) -> Vec<Action> {
    let mut out = Vec::new();
    for sa in sas.iter().filter(|x| !is_deleting(x)) {
        let ns = namespace(sa);
        let mine: Vec<&Value> = secrets
            .iter()
            .filter(|x| namespace(x) == ns && s(x, "/type") == TOKEN_TYPE)
            .filter(|x| s(x, SA_NAME) == name(sa) && (s(x, SA_UID).is_empty() || s(x, SA_UID) == uid(sa)))
            .collect();
        let refs: Vec<String> = sa
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| s(r, "/name").to_string())
            .collect();
        if mine.iter().any(|x| refs.iter().any(|r| r == name(x))) {
            continue;
        }
        let secret_name = match mine.first() {
            Some(existing) => name(existing).to_string(),
            None => {
                let suffix: String = crate::registry::meta::random_suffix();
                let secret_name = format!("{}-token-{suffix}", name(sa));
                out.push(Action::Create {
                    path: format!("/api/v1/namespaces/{ns}/secrets"),
                    obj: token_secret(sa, &secret_name, &token(sa, &secret_name), ca_pem),
                });
                secret_name
            }
        };
        let mut list: Vec<Value> = sa.get("secrets").and_then(Value::as_array).cloned().unwrap_or_default();
        list.push(json!({"name": secret_name}));
        out.push(Action::Patch {
            path: format!("/api/v1/namespaces/{ns}/serviceaccounts/{}", name(sa)),
            patch: json!({"secrets": list}),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_references_a_token_secret_once() {
        let sa = json!({"metadata":{"name":"default","namespace":"d","uid":"u1"}});
        let acts = reconcile(std::slice::from_ref(&sa), &[], b"CA", &|_, _| new_token());
        let (secret, patch) = match (&acts[0], &acts[1]) {
            (Action::Create { obj, .. }, Action::Patch { patch, .. }) => (obj.clone(), patch.clone()),
            other => panic!("create + patch, got {other:?}"),
        };
        let sname = secret["metadata"]["name"].as_str().expect("name").to_string();
        assert!(sname.starts_with("default-token-"));
        assert_eq!(secret["type"], TOKEN_TYPE);
        assert_eq!(secret["data"]["namespace"], b64(b"d"));
        assert_eq!(patch["secrets"][0]["name"], sname.as_str());
        let mut sa2 = sa.clone();
        sa2["secrets"] = patch["secrets"].clone();
        assert!(reconcile(&[sa2], std::slice::from_ref(&secret), b"CA", &|_, _| new_token()).is_empty());
        // Secret exists but is not referenced: only the reference is added.
        let acts = reconcile(&[sa], &[secret], b"CA", &|_, _| new_token());
        assert!(matches!(acts.as_slice(), [Action::Patch { .. }]));
    }
}
