//! ClusterRole aggregation controller (kube-controller-manager's `clusterrole-aggregation`):
//! a ClusterRole with an `aggregationRule` gets, as its `rules`, the rules of every other
//! ClusterRole its selectors match (roles in name order, duplicates dropped) — how
//! `admin`, `edit` and `view` pick up `aggregate-to-*` roles.

use serde_json::{json, Map, Value};

use super::util::{name, selector_matches};
use super::Action;

const PATH: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";

/// Updates for the aggregated roles among `roles` whose rules are not the aggregate.
pub fn reconcile(roles: &[Value]) -> Vec<Action> {
    let mut sorted: Vec<&Value> = roles.iter().collect();
    sorted.sort_by(|a, b| name(a).cmp(name(b)));
    let mut out = Vec::new();
    for role in roles {
        let Some(selectors) = role
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let mut rules: Vec<Value> = Vec::new();
        for sel in selectors {
            for other in &sorted {
                if name(other) == name(role) {
                    continue;
                }
                let labels = other
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_else(Map::new);
                if !selector_matches(Some(sel), &labels, false) {
                    continue;
                }
                for r in other.get("rules").and_then(Value::as_array).into_iter().flatten() {
                    if !rules.contains(r) {
                        rules.push(r.clone());
                    }
                }
            }
        }
        let have = role.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
        if have != rules {
            let mut updated = role.clone();
            updated["rules"] = if rules.is_empty() { Value::Null } else { json!(rules) };
            out.push(Action::Update {
                path: format!("{PATH}/{}", name(role)),
                obj: updated,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_roles_collect_labelled_rules() {
        let view = json!({"metadata":{"name":"view"},"aggregationRule":{"clusterRoleSelectors":[
            {"matchLabels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}}]},"rules":null});
        let b = json!({"metadata":{"name":"b","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},
            "rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}]});
        let a = json!({"metadata":{"name":"a","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},
            "rules":[{"verbs":["list"],"apiGroups":["x"],"resources":["y"]},{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}]});
        let other = json!({"metadata":{"name":"c"},"rules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}]});
        let acts = reconcile(&[view.clone(), b.clone(), a.clone(), other]);
        let [Action::Update { path, obj }] = acts.as_slice() else {
            panic!("{acts:?}")
        };
        assert_eq!(path, "/apis/rbac.authorization.k8s.io/v1/clusterroles/view");
        assert_eq!(
            obj["rules"],
            json!([{"verbs":["list"],"apiGroups":["x"],"resources":["y"]},{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}])
        );
        assert!(reconcile(&[obj.clone(), a, b]).is_empty(), "converged");
        assert!(reconcile(&[view]).is_empty(), "nothing to aggregate: rules stay null");
    }
}
