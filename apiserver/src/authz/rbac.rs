//! The RBAC authorizer: Roles, ClusterRoles, RoleBindings and ClusterRoleBindings from
//! in-memory caches, with Kubernetes' exact rule matching (`*` verbs/groups/resources,
//! `*/subresource`, `resourceNames`, `nonResourceURLs` with a trailing `*`) and subject
//! matching (User, Group, ServiceAccount), plus `covers` (the policy comparator the
//! bootstrap reconciliation uses).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Attributes, Decision, UserInfo};
use crate::registry::generic::Store;
use crate::registry::informer::Informer;
use crate::registry::resources::find;

/// rbac/v1 PolicyRule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl PolicyRule {
    pub fn from_json(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strs(v, "verbs"),
            api_groups: strs(v, "apiGroups"),
            resources: strs(v, "resources"),
            resource_names: strs(v, "resourceNames"),
            non_resource_urls: strs(v, "nonResourceURLs"),
        }
    }

    /// The JSON form (empty lists left out, as Go's omitempty does).
    pub fn to_json(&self) -> Value {
        let mut o = json!({"verbs": self.verbs});
        for (k, v) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !v.is_empty() {
                o[k] = json!(v);
            }
        }
        o
    }

    /// `rules` of a Role or ClusterRole (null: none).
    pub fn list(obj: &Value) -> Vec<PolicyRule> {
        obj.get("rules")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(PolicyRule::from_json).collect())
            .unwrap_or_default()
    }

    pub fn all_resources() -> PolicyRule {
        PolicyRule {
            verbs: owned(&["*"]),
            api_groups: owned(&["*"]),
            resources: owned(&["*"]),
            ..Default::default()
        }
    }

    pub fn all_non_resources() -> PolicyRule {
        PolicyRule {
            verbs: owned(&["*"]),
            non_resource_urls: owned(&["*"]),
            ..Default::default()
        }
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    fn group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == combined
                || (!subresource.is_empty()
                    && r.len() == subresource.len() + 2
                    && r.starts_with("*/")
                    && r.ends_with(subresource))
        })
    }

    fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|u| u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*'))))
    }

    /// kube's `RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        if a.resource_request {
            let combined = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            return self.verb_matches(&a.verb)
                && self.group_matches(&a.api_group)
                && self.resource_matches(&combined, &a.subresource)
                && self.name_matches(&a.name);
        }
        self.verb_matches(&a.verb) && self.url_matches(&a.path)
    }

    /// One rule per (group, resource, verb[, name]) and per (url, verb): kube's BreakdownRule.
    pub fn breakdown(&self) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        for g in &self.api_groups {
            for r in &self.resources {
                for v in &self.verbs {
                    let base = PolicyRule {
                        verbs: vec![v.clone()],
                        api_groups: vec![g.clone()],
                        resources: vec![r.clone()],
                        ..Default::default()
                    };
                    if self.resource_names.is_empty() {
                        out.push(base);
                    } else {
                        for n in &self.resource_names {
                            out.push(PolicyRule {
                                resource_names: vec![n.clone()],
                                ..base.clone()
                            });
                        }
                    }
                }
            }
        }
        for u in &self.non_resource_urls {
            for v in &self.verbs {
                out.push(PolicyRule {
                    verbs: vec![v.clone()],
                    non_resource_urls: vec![u.clone()],
                    ..Default::default()
                });
            }
        }
        out
    }

    /// kube's `ruleCovers`: does `self` grant everything the atomic `sub` grants?
    fn covers(&self, sub: &PolicyRule) -> bool {
        let has = |set: &[String], e: &str| set.iter().any(|x| x == e);
        let has_all = |set: &[String], want: &[String]| want.iter().all(|w| has(set, w));
        let verbs = has(&self.verbs, "*") || has_all(&self.verbs, &sub.verbs);
        let groups = has(&self.api_groups, "*") || has_all(&self.api_groups, &sub.api_groups);
        let resources = has(&self.resources, "*")
            || has_all(&self.resources, &sub.resources)
            || sub.resources.iter().all(|p| {
                has(&self.resources, p)
                    || p.split_once('/')
                        .is_some_and(|(_, s)| has(&self.resources, &format!("*/{s}")))
            });
        let urls = sub.non_resource_urls.iter().all(|p| {
            self.non_resource_urls
                .iter()
                .any(|o| o == p || (o.ends_with('*') && p.starts_with(o.trim_end_matches('*'))))
        });
        let names = if sub.resource_names.is_empty() {
            self.resource_names.is_empty()
        } else {
            self.resource_names.is_empty() || has_all(&self.resource_names, &sub.resource_names)
        };
        verbs && groups && resources && names && urls
    }
}

/// kube's `validation.Covers`: the atomic parts of `servant` that no `owner` rule covers.
pub fn uncovered(owner: &[PolicyRule], servant: &[PolicyRule]) -> Vec<PolicyRule> {
    servant
        .iter()
        .flat_map(PolicyRule::breakdown)
        .filter(|sub| !owner.iter().any(|o| o.covers(sub)))
        .collect()
}

/// rbac/v1 Subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// What the authorizer keeps of a binding.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl Binding {
    pub fn from_json(v: &Value) -> Option<Binding> {
        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        Some(Binding {
            name: s(v, "/metadata/name"),
            role_kind: s(v, "/roleRef/kind"),
            role_name: s(v, "/roleRef/name"),
            subjects: v
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| Subject {
                    kind: s(x, "/kind"),
                    name: s(x, "/name"),
                    namespace: s(x, "/namespace"),
                })
                .collect(),
        })
    }

    /// kube's `appliesTo`: does any subject name `user`? (`ns`: the RoleBinding's namespace,
    /// the default namespace of ServiceAccount subjects.)
    pub fn applies_to(&self, user: &UserInfo, ns: &str) -> bool {
        self.subjects.iter().any(|s| match s.kind.as_str() {
            "User" => user.name == s.name,
            "Group" => user.in_group(&s.name),
            "ServiceAccount" => {
                let sa_ns = if s.namespace.is_empty() { ns } else { &s.namespace };
                !sa_ns.is_empty() && user.name == format!("system:serviceaccount:{sa_ns}:{}", s.name)
            }
            _ => false,
        })
    }
}

fn parse_rules(v: &Value) -> Option<Vec<PolicyRule>> {
    Some(PolicyRule::list(v))
}

/// The RBAC authorizer over four caches.
pub struct Rbac {
    roles: Arc<Informer<Vec<PolicyRule>>>,
    cluster_roles: Arc<Informer<Vec<PolicyRule>>>,
    role_bindings: Arc<Informer<Binding>>,
    cluster_role_bindings: Arc<Informer<Binding>>,
}

const GROUP: &str = "rbac.authorization.k8s.io";

impl Rbac {
    /// Caches kept current by store watches.
    pub fn start(store: &Arc<Store>) -> Rbac {
        let res = |plural| find(GROUP, "v1", plural).unwrap_or_else(|| panic!("{plural} is in the resource table"));
        Rbac {
            roles: Informer::spawn(store.clone(), res("roles"), parse_rules),
            cluster_roles: Informer::spawn(store.clone(), res("clusterroles"), parse_rules),
            role_bindings: Informer::spawn(store.clone(), res("rolebindings"), Binding::from_json),
            cluster_role_bindings: Informer::spawn(store.clone(), res("clusterrolebindings"), Binding::from_json),
        }
    }

    /// Fixed objects (unit tests).
    pub fn fixed(roles: &[Value], cluster_roles: &[Value], rbs: &[Value], crbs: &[Value]) -> Rbac {
        Rbac {
            roles: Informer::fixed(roles, parse_rules),
            cluster_roles: Informer::fixed(cluster_roles, parse_rules),
            role_bindings: Informer::fixed(rbs, Binding::from_json),
            cluster_role_bindings: Informer::fixed(crbs, Binding::from_json),
        }
    }

    async fn synced(&self) {
        let limit = Duration::from_secs(10);
        self.roles.wait_synced(limit).await;
        self.cluster_roles.wait_synced(limit).await;
        self.role_bindings.wait_synced(limit).await;
        self.cluster_role_bindings.wait_synced(limit).await;
    }

    /// The rules a binding grants, or kube's lister error.
    fn role_rules(&self, b: &Binding, ns: &str) -> Result<Arc<Vec<PolicyRule>>, String> {
        match b.role_kind.as_str() {
            "ClusterRole" => self
                .cluster_roles
                .get("", &b.role_name)
                .ok_or_else(|| format!("clusterrole.{GROUP} {:?} not found", b.role_name)),
            "Role" => self
                .roles
                .get(ns, &b.role_name)
                .ok_or_else(|| format!("role.{GROUP} {:?} not found", b.role_name)),
            k => Err(format!("unsupported role reference kind: {k:?}")),
        }
    }

    /// kube's VisitRulesFor: cluster-wide bindings, then those of `ns`; `visit` returns
    /// false to stop.
    fn visit(&self, user: &UserInfo, ns: &str, mut visit: impl FnMut(&PolicyRule) -> bool, errors: &mut Vec<String>) {
        let mut crbs = self.cluster_role_bindings.all();
        crbs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rbs = if ns.is_empty() {
            Vec::new()
        } else {
            self.role_bindings.in_namespace(ns)
        };
        rbs.sort_by(|a, b| a.name.cmp(&b.name));
        let scoped = crbs.iter().map(|b| (b, "")).chain(rbs.iter().map(|b| (b, ns)));
        for (b, bns) in scoped {
            if !b.applies_to(user, bns) {
                continue;
            }
            // A ClusterRoleBinding naming a Role has no namespace to find it in.
            let rules = if bns.is_empty() && b.role_kind == "Role" {
                Err(format!("role.{GROUP} {:?} not found", b.role_name))
            } else {
                self.role_rules(b, bns)
            };
            match rules {
                Ok(rules) => {
                    for r in rules.iter() {
                        if !visit(r) {
                            return;
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }

    pub async fn authorize(&self, a: &Attributes) -> (Decision, String) {
        self.synced().await;
        let mut allowed = false;
        let mut errors = Vec::new();
        self.visit(
            &a.user,
            &a.namespace,
            |r| {
                allowed = r.allows(a);
                !allowed
            },
            &mut errors,
        );
        if allowed {
            return (Decision::Allow, String::new());
        }
        (Decision::NoOpinion, aggregate("RBAC: ", &errors))
    }

    /// Every rule `user` has in `ns` (and cluster-wide), with resolution errors.
    pub async fn rules_for(&self, user: &UserInfo, ns: &str) -> (Vec<PolicyRule>, Vec<String>) {
        self.synced().await;
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        self.visit(
            user,
            ns,
            |r| {
                rules.push(r.clone());
                true
            },
            &mut errors,
        );
        (rules, errors)
    }
}

/// utilerrors.NewAggregate's text: one message as is, several in brackets.
fn aggregate(prefix: &str, errors: &[String]) -> String {
    let mut uniq: Vec<&String> = Vec::new();
    for e in errors {
        if !uniq.contains(&e) {
            uniq.push(e);
        }
    }
    match uniq.as_slice() {
        [] => String::new(),
        [one] => format!("{prefix}{one}"),
        many => format!(
            "{prefix}[{}]",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::from_json(&v)
    }

    fn req(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: "default".into(),
            ..Default::default()
        }
    }

    fn url(verb: &str, path: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_as_kubernetes_does() {
        let r = rule(json!({"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}));
        assert!(r.allows(&req("get", "", "pods", "", "x")));
        assert!(r.allows(&req("list", "", "pods", "", "")));
        assert!(!r.allows(&req("delete", "", "pods", "", "x")));
        assert!(!r.allows(&req("get", "apps", "pods", "", "x")), "group must match");
        assert!(
            !r.allows(&req("get", "", "pods", "log", "x")),
            "pods does not grant pods/log"
        );
        let r = rule(json!({"verbs":["*"],"apiGroups":["*"],"resources":["*"]}));
        assert!(r.allows(&req("deletecollection", "apps", "deployments", "scale", "")));
        assert!(!r.allows(&url("get", "/healthz")), "resource rules never match URLs");
        let r = rule(json!({"verbs":["get"],"apiGroups":[""],"resources":["pods/log"]}));
        assert!(r.allows(&req("get", "", "pods", "log", "x")));
        assert!(!r.allows(&req("get", "", "pods", "", "x")));
        let r = rule(json!({"verbs":["get"],"apiGroups":[""],"resources":["*/status"]}));
        assert!(r.allows(&req("get", "", "nodes", "status", "n")));
        assert!(!r.allows(&req("get", "", "nodes", "", "n")));
        assert!(!r.allows(&req("get", "", "nodes", "xstatus", "n")));
        let r = rule(json!({"verbs":["update"],"apiGroups":[""],"resources":["configmaps"],"resourceNames":["a"]}));
        assert!(r.allows(&req("update", "", "configmaps", "", "a")));
        assert!(!r.allows(&req("update", "", "configmaps", "", "b")));
        assert!(!r.allows(&req("update", "", "configmaps", "", "")), "no name, no match");
        let r = rule(json!({"verbs":["get"],"nonResourceURLs":["/healthz","/api/*"]}));
        assert!(r.allows(&url("get", "/healthz")));
        assert!(!r.allows(&url("get", "/healthz/etcd")));
        assert!(r.allows(&url("get", "/api/v1")));
        assert!(r.allows(&url("get", "/api/")));
        assert!(!r.allows(&url("get", "/api")));
        assert!(!r.allows(&url("post", "/healthz")));
        assert!(!r.allows(&req("get", "", "healthz", "", "")));
        assert!(rule(json!({"verbs":["get"],"nonResourceURLs":["*"]})).allows(&url("get", "/x")));
    }

    #[test]
    fn coverage_is_kubes_policy_comparator() {
        let owner = vec![
            rule(json!({"verbs":["get","list"],"apiGroups":[""],"resources":["pods","*/status"]})),
            rule(json!({"verbs":["*"],"nonResourceURLs":["/api/*"]})),
        ];
        let servant = vec![
            rule(json!({"verbs":["get"],"apiGroups":[""],"resources":["pods","nodes/status"]})),
            rule(json!({"verbs":["get"],"nonResourceURLs":["/api/v1"]})),
            rule(json!({"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["a"]})),
        ];
        assert!(uncovered(&owner, &servant).is_empty());
        let missing = uncovered(
            &owner,
            &[rule(
                json!({"verbs":["get","watch"],"apiGroups":["","apps"],"resources":["pods"]}),
            )],
        );
        assert_eq!(missing.len(), 3, "{missing:?}");
        assert_eq!(
            missing[0],
            rule(json!({"verbs":["watch"],"apiGroups":[""],"resources":["pods"]}))
        );
        // A name-restricted owner does not cover the whole resource.
        let named = vec![rule(
            json!({"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["a"]}),
        )];
        assert_eq!(
            uncovered(
                &named,
                &[rule(json!({"verbs":["get"],"apiGroups":[""],"resources":["pods"]}))]
            )
            .len(),
            1
        );
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let b = Binding::from_json(&json!({"metadata":{"name":"b"},"roleRef":{"kind":"Role","name":"r"},
            "subjects":[{"kind":"User","name":"alice"},{"kind":"Group","name":"devs"},
                        {"kind":"ServiceAccount","name":"robot"}]}))
        .expect("binding");
        let user = |name: &str, groups: &[&str]| UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: owned(groups),
        };
        assert!(b.applies_to(&user("alice", &[]), "ns1"));
        assert!(b.applies_to(&user("carol", &["devs"]), "ns1"));
        assert!(!b.applies_to(&user("carol", &["ops"]), "ns1"));
        assert!(b.applies_to(&user("system:serviceaccount:ns1:robot", &[]), "ns1"));
        assert!(
            !b.applies_to(&user("system:serviceaccount:ns2:robot", &[]), "ns1"),
            "an SA subject without namespace means the binding's namespace"
        );
        assert!(
            !b.applies_to(&user("system:serviceaccount:ns1:robot", &[]), ""),
            "cluster bindings need the SA's namespace"
        );
    }

    #[tokio::test]
    async fn bindings_grant_their_roles_rules() {
        let rbac = Rbac::fixed(
            &[json!({"metadata":{"name":"reader","namespace":"default"},
                "rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}]})],
            &[json!({"metadata":{"name":"nodes"},
                "rules":[{"verbs":["get"],"apiGroups":[""],"resources":["nodes"]}]})],
            &[
                json!({"metadata":{"name":"rb","namespace":"default"},"roleRef":{"kind":"Role","name":"reader"},
                "subjects":[{"kind":"User","name":"bob"}]}),
                json!({"metadata":{"name":"dangling","namespace":"default"},"roleRef":{"kind":"Role","name":"gone"},
                "subjects":[{"kind":"User","name":"bob"}]}),
            ],
            &[
                json!({"metadata":{"name":"crb"},"roleRef":{"kind":"ClusterRole","name":"nodes"},
                "subjects":[{"kind":"Group","name":"ops"}]}),
            ],
        );
        let mut a = req("list", "", "pods", "", "");
        a.user.name = "bob".into();
        assert_eq!(rbac.authorize(&a).await.0, Decision::Allow);
        a.namespace = "other".into();
        assert_eq!(rbac.authorize(&a).await, (Decision::NoOpinion, String::new()));
        a.namespace = "default".into();
        a.verb = "delete".into();
        assert_eq!(
            rbac.authorize(&a).await,
            (
                Decision::NoOpinion,
                "RBAC: role.rbac.authorization.k8s.io \"gone\" not found".into()
            )
        );
        let mut n = req("get", "", "nodes", "", "n1");
        n.namespace.clear();
        n.user.groups = vec!["ops".into()];
        assert_eq!(rbac.authorize(&n).await.0, Decision::Allow);
        let (rules, _) = rbac.rules_for(&a.user, "default").await;
        assert_eq!(rules.len(), 1);
    }
}
