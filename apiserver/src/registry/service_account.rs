//! ServiceAccount admission (1.20: mount the SA's token Secret into every container at
//! /var/run/secrets/kubernetes.io/serviceaccount) and ServiceAccount token authentication
//! (bearer tokens found in `kubernetes.io/service-account-token` Secrets).

use serde_json::{json, Value};

use super::generic::{ListOptions, Store};
use super::resources::find;
use crate::error::{ApiError, Result};

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Add the token volume and mounts to `pod` (pure part of the admission).
pub fn mount_token(pod: &mut Value, secret_name: &str) {
    let spec = &mut pod["spec"];
    let already = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c.get("volumeMounts").and_then(Value::as_array).into_iter().flatten())
        .any(|m| s(m, "/mountPath") == MOUNT_PATH);
    if already {
        return;
    }
    let vols = spec
        .as_object_mut()
        .map(|m| m.entry("volumes").or_insert_with(|| json!([])));
    if let Some(Value::Array(v)) = vols {
        if !v.iter().any(|x| s(x, "/name") == secret_name) {
            v.push(json!({"name": secret_name, "secret": {"secretName": secret_name, "defaultMode": 420}}));
        }
    }
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                let mounts = c
                    .as_object_mut()
                    .map(|m| m.entry("volumeMounts").or_insert_with(|| json!([])));
                if let Some(Value::Array(ms)) = mounts {
                    ms.push(json!({"name": secret_name, "readOnly": true, "mountPath": MOUNT_PATH}));
                }
            }
        }
    }
}

/// The admission step for a new pod: when the pod and its ServiceAccount allow automounting,
/// mount the SA's first token Secret. `require`: fail (to be retried) while the SA or its token
/// is missing, as 1.20 does when its token controller runs.
pub async fn admit_pod(store: &Store, ns: &str, pod: &mut Value, require: bool) -> Result<()> {
    // Mirror pods (static pods the kubelet reports) are left alone, as in 1.20.
    let mirror = pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some();
    if mirror || !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let sa_name = match s(pod, "/spec/serviceAccountName") {
        "" => "default".to_string(),
        n => n.to_string(),
    };
    pod["spec"]["serviceAccountName"] = json!(sa_name);
    pod["spec"]["serviceAccount"] = json!(sa_name);
    if pod
        .pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        == Some(false)
    {
        return Ok(());
    }
    let Some(sas) = find("", "v1", "serviceaccounts") else {
        return Ok(());
    };
    let sa = match store.get(sas, Some(ns), &sa_name).await {
        Ok(sa) => sa,
        Err(ApiError::NotFound { .. }) if require => {
            return Err(ApiError::Forbidden {
                resource: crate::error::GroupResource {
                    group: "",
                    resource: "pods",
                },
                name: s(pod, "/metadata/name").to_string(),
                message: format!(
                    "error looking up service account {ns}/{sa_name}: serviceaccount \"{sa_name}\" not found"
                ),
            })
        }
        Err(ApiError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    // The ServiceAccount's image pull secrets, unless the pod names its own.
    let own = pod
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if let (false, Some(secrets)) = (own, sa.get("imagePullSecrets").and_then(Value::as_array)) {
        let names: Vec<Value> = secrets
            .iter()
            .filter_map(|s| s.get("name").cloned())
            .map(|n| json!({"name": n}))
            .collect();
        if !names.is_empty() {
            pod["spec"]["imagePullSecrets"] = json!(names);
        }
    }
    if sa.get("automountServiceAccountToken").and_then(Value::as_bool) == Some(false)
        && pod.pointer("/spec/automountServiceAccountToken").is_none()
    {
        return Ok(());
    }
    let token = sa
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| s(r, "/name").to_string())
        .find(|n| !n.is_empty());
    match token {
        Some(t) => {
            mount_token(pod, &t);
            Ok(())
        }
        None if require => Err(ApiError::Unavailable(format!(
            "No API token found for service account \"{sa_name}\", retry after the token is automatically created and added to the service account"
        ))),
        None => Ok(()),
    }
}

/// The user of a ServiceAccount token: (name, uid, groups).
pub async fn authenticate_token(
    store: &Store,
    keys: Option<&crate::serviceaccount_token::TokenVerifier>,
    token: &str,
) -> Option<(String, String, Vec<String>)> {
    let secrets = find("", "v1", "secrets")?;
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD.encode(token.as_bytes());
    let sec = match keys {
        // A signed token: its claims name the Secret, which must still hold it (kube's lookup),
        // and the ServiceAccount, which must still exist with the same uid.
        Some(keys) if token.split('.').count() == 3 => {
            let c = keys.verify(token)?;
            let sec = store.get(secrets, Some(&c.namespace), &c.secret_name).await.ok()?;
            if s(&sec, "/type") != TOKEN_TYPE || s(&sec, "/data/token") != want {
                return None;
            }
            let sas = find("", "v1", "serviceaccounts")?;
            let sa = store.get(sas, Some(&c.namespace), &c.service_account_name).await.ok()?;
            if s(&sa, "/metadata/uid") != c.service_account_uid {
                return None;
            }
            sec
        }
        // An opaque token (no signing key configured): the Secret that holds it.
        _ => {
            let list = store.list(secrets, None, &ListOptions::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|x| s(x, "/type") == TOKEN_TYPE && s(x, "/data/token") == want)?
        }
    };
    let ns = s(&sec, "/metadata/namespace");
    let sa = s(&sec, "/metadata/annotations/kubernetes.io~1service-account.name");
    Some((
        format!("system:serviceaccount:{ns}:{sa}"),
        s(&sec, "/metadata/annotations/kubernetes.io~1service-account.uid").to_string(),
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_mount_is_added_once() {
        let mut pod =
            json!({"spec":{"containers":[{"name":"a"},{"name":"b","volumeMounts":[{"name":"x","mountPath":"/x"}]}]}});
        mount_token(&mut pod, "default-token-abcde");
        mount_token(&mut pod, "default-token-abcde");
        assert_eq!(pod["spec"]["volumes"].as_array().map(Vec::len), Some(1));
        assert_eq!(pod["spec"]["volumes"][0]["secret"]["secretName"], "default-token-abcde");
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"], MOUNT_PATH);
        assert_eq!(
            pod["spec"]["containers"][1]["volumeMounts"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
