//! Garbage collector, with kube's three propagation policies:
//! - background: delete objects whose every ownerReference points at an owner of a known kind
//!   that no longer exists;
//! - orphan: an owner being deleted with the `orphan` finalizer first loses its dependents
//!   (their ownerReferences to it are removed), then the finalizer;
//! - foreground: an owner being deleted with the `foregroundDeletion` finalizer has its
//!   dependents deleted (in the foreground themselves when they own objects), and the
//!   finalizer goes once no dependent with `blockOwnerDeletion` is left.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::util::{is_deleting, name, uid};
use super::Action;
use crate::registry::generic::store::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

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

fn owner_refs(obj: &Value) -> &[Value] {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn ref_uid(r: &Value) -> &str {
    r.get("uid").and_then(Value::as_str).unwrap_or("")
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == f))
}

/// `obj` without finalizer `f`.
fn without_finalizer(obj: &Value, f: &str) -> Value {
    let mut o = obj.clone();
    if let Some(a) = o.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
        a.retain(|v| v != f);
    }
    o
}

/// `dependents` and `owners` with their API paths; owners are every live object of
/// OWNER_KINDS, listed after the dependents (so an owner created before a listed dependent is
/// always seen).
pub fn reconcile(dependents: &[(String, Value)], owners: &[(String, Value)]) -> Vec<Action> {
    let owner_uids: HashSet<&str> = owners.iter().map(|(_, o)| uid(o)).collect();
    let mut out = Vec::new();
    // Background: every owner gone.
    for (path, obj) in dependents {
        if is_deleting(obj) {
            continue;
        }
        let refs = owner_refs(obj);
        if refs.is_empty() {
            continue;
        }
        let all_gone = refs.iter().all(|r| {
            let known = OWNER_KINDS.iter().any(|(av, k)| {
                r.get("apiVersion").and_then(Value::as_str) == Some(av)
                    && r.get("kind").and_then(Value::as_str) == Some(k)
            });
            known && !owner_uids.contains(ref_uid(r))
        });
        if all_gone {
            tracing::debug!(object = %name(obj), "garbage collecting");
            out.push(Action::Delete { path: path.clone() });
        }
    }
    // Owners being deleted with a GC finalizer.
    let owns_something: HashSet<&str> = dependents
        .iter()
        .flat_map(|(_, d)| owner_refs(d).iter().map(ref_uid))
        .collect();
    for (owner_path, owner) in owners.iter().filter(|(_, o)| is_deleting(o)) {
        let id = uid(owner);
        let mine: Vec<&(String, Value)> = dependents
            .iter()
            .filter(|(_, d)| owner_refs(d).iter().any(|r| ref_uid(r) == id))
            .collect();
        if has_finalizer(owner, ORPHAN_FINALIZER) {
            if mine.is_empty() {
                out.push(Action::Update {
                    path: owner_path.clone(),
                    obj: without_finalizer(owner, ORPHAN_FINALIZER),
                });
            }
            for (path, d) in mine {
                let mut d = d.clone();
                let kept: Vec<Value> = owner_refs(&d).iter().filter(|r| ref_uid(r) != id).cloned().collect();
                d["metadata"]["ownerReferences"] = json!(kept);
                out.push(Action::Update {
                    path: path.clone(),
                    obj: d,
                });
            }
        } else if has_finalizer(owner, FOREGROUND_FINALIZER) {
            let blocking = mine.iter().any(|(_, d)| {
                owner_refs(d)
                    .iter()
                    .any(|r| ref_uid(r) == id && r.get("blockOwnerDeletion") == Some(&json!(true)))
            });
            if !blocking {
                out.push(Action::Update {
                    path: owner_path.clone(),
                    obj: without_finalizer(owner, FOREGROUND_FINALIZER),
                });
            }
            for (path, d) in mine.into_iter().filter(|(_, d)| !is_deleting(d)) {
                let path = path.clone();
                out.push(if owns_something.contains(uid(d)) {
                    Action::DeleteForeground { path }
                } else {
                    Action::Delete { path }
                });
            }
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
        let live = vec![("/o/u1".to_string(), json!({"metadata":{"name":"o","uid":"u1"}}))];
        let acts = reconcile(&deps, &live);
        assert_eq!(acts.len(), 1);
        assert!(matches!(&acts[0], Action::Delete { path } if path == "/p/orphan"));
    }

    fn dep(name: &str, owner: &str, block: bool) -> (String, Value) {
        (
            format!("/p/{name}"),
            json!({"metadata":{"name":name,"uid":format!("uid-{name}"),"resourceVersion":"7",
                "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","uid":owner,"name":"o","blockOwnerDeletion":block}]}}),
        )
    }

    fn deleting_owner(fin: &str) -> (String, Value) {
        (
            "/o/rs".to_string(),
            json!({"metadata":{"name":"rs","uid":"u1","deletionTimestamp":"2026-01-01T00:00:00Z","finalizers":[fin, "other"]}}),
        )
    }

    #[test]
    fn orphan_strips_owner_references_then_the_finalizer() {
        let owners = vec![
            deleting_owner("orphan"),
            ("/o/other".to_string(), json!({"metadata":{"name":"other","uid":"u9"}})),
        ];
        let deps = vec![dep("a", "u1", true), dep("b", "u9", true)];
        let acts = reconcile(&deps, &owners);
        assert_eq!(acts.len(), 1, "{acts:?}");
        let Action::Update { path, obj } = &acts[0] else {
            panic!("{acts:?}")
        };
        assert_eq!(path, "/p/a");
        assert_eq!(obj["metadata"]["ownerReferences"], json!([]));
        assert_eq!(obj["metadata"]["resourceVersion"], "7", "updates are optimistic");
        // Once no dependent points at it, only the finalizer goes (others stay).
        let acts = reconcile(&[dep("b", "u9", true)], &owners);
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert!(
            matches!(&acts[0], Action::Update { path, obj } if path == "/o/rs" && obj["metadata"]["finalizers"] == json!(["other"])),
            "{acts:?}"
        );
    }

    #[test]
    fn foreground_deletes_dependents_and_waits_for_blocking_ones() {
        let owner = deleting_owner("foregroundDeletion");
        // A blocking dependent that itself owns a pod goes in the foreground too.
        let mut grandchild = dep("pod", "uid-a", true);
        grandchild.1["metadata"]["ownerReferences"][0]["uid"] = json!("uid-a");
        let deps = vec![dep("a", "u1", true), dep("b", "u1", false), grandchild];
        let owners = vec![owner.clone()];
        let acts = reconcile(&deps, &owners);
        assert!(
            acts.contains(&Action::DeleteForeground { path: "/p/a".into() }),
            "{acts:?}"
        );
        assert!(acts.contains(&Action::Delete { path: "/p/b".into() }), "{acts:?}");
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Update { .. })),
            "blocked: {acts:?}"
        );
        // Only a non-blocking dependent left (being deleted): the finalizer goes.
        let mut b = dep("b", "u1", false);
        b.1["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let acts = reconcile(&[b], &owners);
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert!(
            matches!(&acts[0], Action::Update { path, obj } if path == "/o/rs" && obj["metadata"]["finalizers"] == json!(["other"])),
            "{acts:?}"
        );
        // A blocking dependent being deleted still blocks.
        let mut a = dep("a", "u1", true);
        a.1["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(reconcile(&[a], &owners).is_empty());
    }
}
