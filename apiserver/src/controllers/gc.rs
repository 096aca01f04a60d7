//! Garbage collector (background propagation): delete objects whose every ownerReference points
//! at an owner of a known kind that no longer exists.

use std::collections::HashSet;

use serde_json::Value;

use super::util::{is_deleting, name};
use super::Action;

/// Owner kinds whose objects the collector lists (apiVersion, kind).
pub const OWNER_KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("batch/v1beta1", "CronJob"),
    ("v1", "Service"),
    ("v1", "Node"),
];

/// `dependents` with their delete paths; `owner_uids`: every live object of OWNER_KINDS, listed
/// after the dependents (so an owner created before a listed dependent is always seen).
pub fn reconcile(dependents: &[(String, Value)], owner_uids: &HashSet<String>) -> Vec<Action> {
    let mut out = Vec::new();
    for (path, obj) in dependents {
        if is_deleting(obj) {
            continue;
        }
        let Some(refs) = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array) else {
            continue;
        };
        if refs.is_empty() {
            continue;
        }
        let all_gone = refs.iter().all(|r| {
            let known = OWNER_KINDS.iter().any(|(av, k)| {
                r.get("apiVersion").and_then(Value::as_str) == Some(av)
                    && r.get("kind").and_then(Value::as_str) == Some(k)
            });
            let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
            known && !owner_uids.contains(uid)
        });
        if all_gone {
            tracing::debug!(object = %name(obj), "garbage collecting");
            out.push(Action::Delete { path: path.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_only_orphans_of_known_kinds() {
        let owned = |uid: &str, kind: &str| json!({"metadata":{"name":uid,"ownerReferences":[{"apiVersion":"apps/v1","kind":kind,"uid":uid,"name":"o"}]}});
        let deps = vec![
            ("/p/alive".to_string(), owned("u1", "ReplicaSet")),
            ("/p/orphan".to_string(), owned("u2", "ReplicaSet")),
            ("/p/unknown".to_string(), owned("u3", "Widget")),
            ("/p/free".to_string(), json!({"metadata":{"name":"x"}})),
        ];
        let live: HashSet<String> = ["u1".to_string()].into_iter().collect();
        let acts = reconcile(&deps, &live);
        assert_eq!(acts.len(), 1);
        assert!(matches!(&acts[0], Action::Delete { path } if path == "/p/orphan"));
    }
}
