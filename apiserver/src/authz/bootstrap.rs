//! The default RBAC policy, created and reconciled at start-up like kube-apiserver's
//! `rbac/bootstrap-roles` post-start hook (which runs whatever the authorization mode).
//!
//! The data is kube's own expected output: the YAML files in `bootstrappolicy/` are
//! Kubernetes v1.20.2's `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/*.yaml`
//! (Apache-2.0), which its tests keep equal to what `policy.go`, `controller_policy.go`
//! and `namespace_policy.go` build. Reconciliation follows
//! `k8s.io/component-helpers/auth/rbac/reconciliation`: missing objects are created;
//! existing ones gain missing labels, annotations, rules (as atomic rules),
//! aggregation selectors and subjects, nothing is removed; a binding whose roleRef
//! differs is recreated; objects annotated `rbac.authorization.kubernetes.io/autoupdate:
//! "false"` are left alone.

use serde_json::{json, Map, Value};

use super::rbac::{uncovered, PolicyRule};
use crate::error::{ApiError, Result};
use crate::registry::generic::{DeleteOptions, Store};
use crate::registry::resources::find;

pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

const CLUSTER_ROLES: &str = include_str!("bootstrappolicy/cluster-roles.yaml");
const CLUSTER_ROLE_BINDINGS: &str = include_str!("bootstrappolicy/cluster-role-bindings.yaml");
const CONTROLLER_ROLES: &str = include_str!("bootstrappolicy/controller-roles.yaml");
const CONTROLLER_ROLE_BINDINGS: &str = include_str!("bootstrappolicy/controller-role-bindings.yaml");
const NAMESPACE_ROLES: &str = include_str!("bootstrappolicy/namespace-roles.yaml");
const NAMESPACE_ROLE_BINDINGS: &str = include_str!("bootstrappolicy/namespace-role-bindings.yaml");

/// The items of one embedded `kind: List`, without `creationTimestamp: null`.
fn items(yaml: &str) -> Vec<Value> {
    let list: Value = match serde_norway::from_str(yaml) {
        Ok(v) => v,
        Err(e) => {
            // The files are compiled in; a unit test parses every one of them.
            tracing::error!(error = %e, "embedded bootstrap policy does not parse");
            return Vec::new();
        }
    };
    let mut out: Vec<Value> = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    for o in &mut out {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("creationTimestamp");
        }
    }
    out
}

/// The default policy: (resource plural, objects), in the order kube reconciles them.
pub fn policy() -> Vec<(&'static str, Vec<Value>)> {
    let mut cluster_roles = items(CLUSTER_ROLES);
    cluster_roles.extend(items(CONTROLLER_ROLES));
    let mut cluster_role_bindings = items(CLUSTER_ROLE_BINDINGS);
    cluster_role_bindings.extend(items(CONTROLLER_ROLE_BINDINGS));
    vec![
        ("clusterroles", cluster_roles),
        ("clusterrolebindings", cluster_role_bindings),
        ("roles", items(NAMESPACE_ROLES)),
        ("rolebindings", items(NAMESPACE_ROLE_BINDINGS)),
    ]
}

/// The `system:node` ClusterRole's rules (kube's `NodeRules()`, used by the Node authorizer).
pub fn node_rules() -> Vec<PolicyRule> {
    items(CLUSTER_ROLES)
        .iter()
        .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some("system:node"))
        .map(PolicyRule::list)
        .unwrap_or_default()
}

fn string_map(obj: &Value, key: &str) -> Map<String, Value> {
    obj.pointer(&format!("/metadata/{key}"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Merge expected labels/annotations under the existing ones (existing values win).
fn merge_meta(out: &mut Value, existing: &Value, expected: &Value) -> bool {
    let mut changed = false;
    for key in ["annotations", "labels"] {
        let mut merged = string_map(expected, key);
        let have = string_map(existing, key);
        merged.extend(have.clone());
        if merged != have {
            out["metadata"][key] = Value::Object(merged);
            changed = true;
        }
    }
    changed
}

fn protected(existing: &Value) -> bool {
    existing
        .pointer(&format!("/metadata/annotations/{}", AUTOUPDATE.replace('/', "~1")))
        .and_then(Value::as_str)
        == Some("false")
}

fn selectors(obj: &Value) -> Option<Vec<Value>> {
    let rule = obj.get("aggregationRule").filter(|v| !v.is_null())?;
    Some(
        rule.get("clusterRoleSelectors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    )
}

/// The updated role when `existing` lacks something `expected` has; None: leave it.
pub fn reconcile_role(existing: &Value, expected: &Value) -> Option<Value> {
    if protected(existing) {
        return None;
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out, existing, expected);
    let have = PolicyRule::list(existing);
    let missing = uncovered(&have, &PolicyRule::list(expected));
    if !missing.is_empty() {
        let mut rules: Vec<Value> = have.iter().map(PolicyRule::to_json).collect();
        rules.extend(missing.iter().map(PolicyRule::to_json));
        out["rules"] = json!(rules);
        changed = true;
    }
    match (selectors(expected), selectors(existing)) {
        (None, Some(_)) => {
            if let Some(m) = out.as_object_mut() {
                m.remove("aggregationRule");
            }
            changed = true;
        }
        (Some(want), have) => {
            let mut have = have.unwrap_or_default();
            let before = have.len();
            for s in want {
                if !have.contains(&s) {
                    have.push(s);
                }
            }
            if have.len() != before || existing.get("aggregationRule").is_none_or(Value::is_null) {
                out["aggregationRule"] = json!({"clusterRoleSelectors": have});
                changed = true;
            }
        }
        (None, None) => {}
    }
    changed.then_some(out)
}

/// What a binding needs.
#[derive(Debug, PartialEq)]
pub enum BindingChange {
    None,
    Update(Value),
    /// The roleRef differs: delete and create the expected binding.
    Recreate,
}

pub fn reconcile_binding(existing: &Value, expected: &Value) -> BindingChange {
    if protected(existing) {
        return BindingChange::None;
    }
    if existing.get("roleRef") != expected.get("roleRef") {
        return BindingChange::Recreate;
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out, existing, expected);
    let mut subjects: Vec<Value> = existing
        .get("subjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in expected.get("subjects").and_then(Value::as_array).into_iter().flatten() {
        if !subjects.contains(s) {
            subjects.push(s.clone());
            changed = true;
        }
    }
    if changed {
        out["subjects"] = json!(subjects);
        BindingChange::Update(out)
    } else {
        BindingChange::None
    }
}

/// Create or reconcile one object of the default policy.
async fn ensure_one(store: &Store, plural: &str, expected: &Value) -> Result<()> {
    let res = find("rbac.authorization.k8s.io", "v1", plural).ok_or(ApiError::NoSuchResource)?;
    let ns = expected.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = expected
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let binding = plural.ends_with("bindings");
    for _ in 0..3 {
        let existing = match store.get(res, ns, name).await {
            Ok(e) => e,
            Err(ApiError::NotFound { .. }) => match store.create(res, ns, expected.clone(), false).await {
                Ok(_) => return Ok(()),
                Err(ApiError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let change = if binding {
            reconcile_binding(&existing, expected)
        } else {
            match reconcile_role(&existing, expected) {
                Some(v) => BindingChange::Update(v),
                None => BindingChange::None,
            }
        };
        match change {
            BindingChange::None => return Ok(()),
            BindingChange::Update(v) => match store.update(res, ns, name, None, false, |_| Ok(v.clone())).await {
                Ok(_) => return Ok(()),
                Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            },
            BindingChange::Recreate => {
                tracing::info!(
                    binding = name,
                    "recreating a bootstrap binding with a different roleRef"
                );
                match store.delete(res, ns, name, &DeleteOptions::default()).await {
                    Ok(_) | Err(ApiError::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(ApiError::Internal(format!(
        "{plural} {name}: exceeded maximum attempts"
    )))
}

/// Create or reconcile the whole default policy (the namespaces must exist).
pub async fn ensure_policy(store: &Store) -> Result<()> {
    for (plural, objs) in policy() {
        // A few at a time: ~150 objects on a fresh store.
        for chunk in objs.chunks(16) {
            let results = futures::future::join_all(chunk.iter().map(|o| ensure_one(store, plural, o))).await;
            for r in results {
                r?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policy_is_kubes_1_20() {
        let p = policy();
        let names = |plural: &str| -> Vec<String> {
            p.iter()
                .find(|(k, _)| *k == plural)
                .map(|(_, v)| {
                    v.iter()
                        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let roles = names("clusterroles");
        for want in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:basic-user",
            "system:public-info-viewer",
            "system:node",
            "system:node-proxier",
            "system:kube-scheduler",
            "system:kube-controller-manager",
            "system:kube-dns",
            "system:node-bootstrapper",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "system:monitoring",
            "system:controller:deployment-controller",
            "system:controller:clusterrole-aggregation-controller",
        ] {
            assert!(roles.iter().any(|r| r == want), "{want} missing");
        }
        assert!(names("clusterrolebindings")
            .iter()
            .any(|r| r == "system:controller:job-controller"));
        assert!(names("roles")
            .iter()
            .any(|r| r == "extension-apiserver-authentication-reader"));
        assert!(names("rolebindings")
            .iter()
            .any(|r| r == "system::leader-locking-kube-scheduler"));
        for (_, objs) in &p {
            for o in objs {
                assert_eq!(o["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
                assert_eq!(o["metadata"]["annotations"][AUTOUPDATE], "true");
                assert!(o["metadata"].get("creationTimestamp").is_none());
            }
        }
        let node = node_rules();
        assert!(node.iter().any(|r| r.resources.contains(&"nodes/status".to_string())));
    }

    #[test]
    fn roles_gain_what_is_missing_and_keep_the_rest() {
        let expected = json!({"metadata":{"name":"r","labels":{"a":"1"},"annotations":{AUTOUPDATE:"true"}},
            "rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}]});
        let existing = json!({"metadata":{"name":"r","labels":{"a":"2","mine":"x"}},
            "rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"]},{"verbs":["get"],"apiGroups":[""],"resources":["secrets"]}]});
        let out = reconcile_role(&existing, &expected).expect("needs an update");
        assert_eq!(
            out["metadata"]["labels"],
            json!({"a":"2","mine":"x"}),
            "existing labels win"
        );
        assert_eq!(out["metadata"]["annotations"][AUTOUPDATE], "true");
        assert_eq!(out["rules"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            out["rules"][2],
            json!({"verbs":["list"],"apiGroups":[""],"resources":["pods"]})
        );
        assert_eq!(reconcile_role(&out, &expected), None, "converged");
        let mut prot = existing.clone();
        prot["metadata"]["annotations"] = json!({AUTOUPDATE: "false"});
        assert_eq!(reconcile_role(&prot, &expected), None, "autoupdate false is left alone");
        // Aggregated roles keep their (aggregated) rules.
        let agg = json!({"metadata":{"name":"view"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"x":"true"}}]},"rules":null});
        let filled = json!({"metadata":{"name":"view"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"x":"true"}}]},
            "rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}]});
        assert_eq!(reconcile_role(&filled, &agg), None);
    }

    #[test]
    fn bindings_gain_subjects_or_are_recreated() {
        let expected = json!({"metadata":{"name":"b"},"roleRef":{"kind":"ClusterRole","name":"x"},
            "subjects":[{"kind":"Group","name":"g"}]});
        let existing = json!({"metadata":{"name":"b"},"roleRef":{"kind":"ClusterRole","name":"x"},
            "subjects":[{"kind":"User","name":"u"}]});
        match reconcile_binding(&existing, &expected) {
            BindingChange::Update(v) => assert_eq!(v["subjects"].as_array().map(Vec::len), Some(2)),
            other => panic!("{other:?}"),
        }
        let other_ref = json!({"metadata":{"name":"b"},"roleRef":{"kind":"ClusterRole","name":"y"}});
        assert_eq!(reconcile_binding(&other_ref, &expected), BindingChange::Recreate);
    }
}
