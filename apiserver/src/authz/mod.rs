//! Authorization on the secure port, as kube-apiserver 1.20 does it: request attributes,
//! the `--authorization-mode` union (first Allow/Deny wins, NoOpinion falls through), the
//! RBAC and Node authorizers, the bootstrap policy and NodeRestriction admission.
//!
//! - `rbac`: PolicyRule matching and coverage, the RBAC authorizer over `informer` caches;
//! - `node`: the Node authorizer (what pods bound to a node reference);
//! - `informer`: in-memory copies of a resource kept current by a store watch;
//! - `bootstrap`: the default roles and bindings (kube's testdata YAML, embedded);
//! - `node_restriction`: the NodeRestriction admission plugin.
//!
//! Arrows: http → authz → registry → storage.

pub mod bootstrap;
pub mod node;
pub mod node_restriction;
pub mod rbac;

use std::sync::Arc;

use crate::error::ApiError;
use crate::registry::generic::Store;

/// kube's privileged group: always allowed.
pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The insecure port's user (kube-apiserver's `system:unsecured`, a cluster admin).
    pub fn unsecured() -> Self {
        UserInfo {
            name: "system:unsecured".into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
        }
    }

    /// A request without credentials when anonymous requests are on.
    pub fn anonymous() -> Self {
        UserInfo {
            name: ANONYMOUS.into(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.into()],
        }
    }

    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// What a request asks to do (k8s.io/apiserver `authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    /// The URL path (non-resource requests).
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    NoOpinion,
}

/// One `--authorization-mode` entry (kube's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    AlwaysDeny,
    Rbac,
    Node,
}

/// Parse `--authorization-mode` (comma list of kube's names).
pub fn parse_modes(s: &str) -> Result<Vec<Mode>, String> {
    let mut out = Vec::new();
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let mode = match m {
            "AlwaysAllow" => Mode::AlwaysAllow,
            "AlwaysDeny" => Mode::AlwaysDeny,
            "RBAC" => Mode::Rbac,
            "Node" => Mode::Node,
            other => return Err(format!("authorization-mode {other:?} is not a valid mode")),
        };
        if out.contains(&mode) {
            return Err(format!("authorization-mode {m:?} has mode specified more than once"));
        }
        out.push(mode);
    }
    if out.is_empty() {
        return Err("at least one authorization-mode must be passed".into());
    }
    Ok(out)
}

/// The union of the configured authorizers, behind kube's privileged-group check.
pub struct Authorizer {
    modes: Vec<Mode>,
    rbac: Option<Arc<rbac::Rbac>>,
    node: Option<Arc<node::NodeAuthorizer>>,
}

/// The rules a user has (SelfSubjectRulesReview).
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<rbac::PolicyRule>,
    pub incomplete: bool,
    pub errors: Vec<String>,
}

impl Authorizer {
    /// Start the caches the modes need (RBAC objects; pods and volumes for Node).
    pub fn new(modes: Vec<Mode>, store: &Arc<Store>) -> Self {
        let rbac = modes.contains(&Mode::Rbac).then(|| Arc::new(rbac::Rbac::start(store)));
        let node = modes
            .contains(&Mode::Node)
            .then(|| Arc::new(node::NodeAuthorizer::start(store)));
        Authorizer { modes, rbac, node }
    }

    /// No authorization (the insecure port, tests).
    pub fn always_allow() -> Self {
        Authorizer {
            modes: vec![Mode::AlwaysAllow],
            rbac: None,
            node: None,
        }
    }

    /// kube-apiserver turns anonymous requests off under AlwaysAllow.
    pub fn anonymous_allowed(&self) -> bool {
        !self.modes.contains(&Mode::AlwaysAllow)
    }

    /// The decision and the reasons of the authorizers that had no opinion.
    pub async fn authorize(&self, a: &Attributes) -> (Decision, String) {
        if a.user.in_group(MASTERS) {
            return (Decision::Allow, String::new());
        }
        let mut reasons: Vec<String> = Vec::new();
        for m in &self.modes {
            let (d, reason) = match m {
                Mode::AlwaysAllow => (Decision::Allow, String::new()),
                Mode::AlwaysDeny => (Decision::NoOpinion, "Everything is forbidden.".to_string()),
                Mode::Rbac => match &self.rbac {
                    Some(r) => r.authorize(a).await,
                    None => (Decision::NoOpinion, String::new()),
                },
                Mode::Node => match &self.node {
                    Some(n) => n.authorize(a).await,
                    None => (Decision::NoOpinion, String::new()),
                },
            };
            match d {
                Decision::NoOpinion => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
                d => return (d, reason),
            }
        }
        (Decision::NoOpinion, reasons.join("\n"))
    }

    /// `Ok` if allowed, else kube's 403 Forbidden.
    pub async fn check(&self, a: &Attributes) -> Result<(), ApiError> {
        match self.authorize(a).await {
            (Decision::Allow, _) => Ok(()),
            (_, reason) => Err(forbidden(a, &reason)),
        }
    }

    /// The union of the authorizers' rules for `user` in `namespace` (kube's RulesFor).
    pub async fn rules_for(&self, user: &UserInfo, namespace: &str) -> RuleSet {
        let mut out = RuleSet::default();
        for m in &self.modes {
            match m {
                Mode::AlwaysAllow => {
                    out.rules.push(rbac::PolicyRule::all_resources());
                    out.rules.push(rbac::PolicyRule::all_non_resources());
                }
                Mode::AlwaysDeny => {}
                Mode::Rbac => {
                    if let Some(r) = &self.rbac {
                        let (rules, errors) = r.rules_for(user, namespace).await;
                        out.rules.extend(rules);
                        out.errors.extend(errors);
                    }
                }
                Mode::Node => {
                    if node::node_name(user).is_some() {
                        out.incomplete = true;
                        out.errors
                            .push("node authorizer does not support user rule resolution".into());
                    }
                }
            }
        }
        out
    }
}

/// kube's `forbiddenMessage` (responsewriters/errors.go), with `: reason` when there is one.
pub fn forbidden_message(a: &Attributes, reason: &str) -> String {
    let user = &a.user.name;
    let msg = if !a.resource_request {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else {
        let mut resource = a.resource.clone();
        if !a.subresource.is_empty() {
            resource = format!("{resource}/{}", a.subresource);
        }
        if a.namespace.is_empty() {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                a.verb, a.api_group
            )
        } else {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                a.verb, a.api_group, a.namespace
            )
        }
    };
    // kube escapes what could look like HTML.
    let msg = msg.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    }
}

/// The 403 for a denied request (apierrors.NewForbidden on the request's GroupResource).
pub fn forbidden(a: &Attributes, reason: &str) -> ApiError {
    ApiError::AccessDenied {
        group: a.api_group.clone(),
        resource: a.resource.clone(),
        name: a.name.clone(),
        message: forbidden_message(a, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, ns: &str, resource: &str) -> Attributes {
        Attributes {
            user: UserInfo {
                name: "bob".into(),
                ..Default::default()
            },
            verb: verb.into(),
            resource_request: true,
            namespace: ns.into(),
            resource: resource.into(),
            api_version: "v1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn forbidden_messages_are_kubes() {
        let a = attrs("list", "default", "pods");
        assert_eq!(
            forbidden(&a, "").to_string(),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let mut a = attrs("get", "", "nodes");
        a.name = "n1".into();
        a.subresource = "status".into();
        assert_eq!(
            forbidden(&a, "").to_string(),
            "nodes \"n1\" is forbidden: User \"bob\" cannot get resource \"nodes/status\" in API group \"\" at the cluster scope"
        );
        let mut a = attrs("create", "", "deployments");
        a.api_group = "apps".into();
        a.namespace = "x".into();
        assert_eq!(
            forbidden(&a, "no reason").to_string(),
            "deployments.apps is forbidden: User \"bob\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"x\": no reason"
        );
        let a = Attributes {
            user: UserInfo::anonymous(),
            verb: "get".into(),
            path: "/metrics".into(),
            ..Default::default()
        };
        assert_eq!(
            forbidden(&a, "").to_string(),
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn modes_parse_as_kube_names() {
        assert_eq!(parse_modes("Node,RBAC"), Ok(vec![Mode::Node, Mode::Rbac]));
        assert_eq!(parse_modes("AlwaysAllow"), Ok(vec![Mode::AlwaysAllow]));
        assert!(parse_modes("rbac").is_err());
        assert!(parse_modes("RBAC,RBAC").is_err());
        assert!(parse_modes("").is_err());
    }

    #[tokio::test]
    async fn union_falls_through_no_opinion() {
        let deny_then_allow = Authorizer {
            modes: vec![Mode::AlwaysDeny, Mode::AlwaysAllow],
            rbac: None,
            node: None,
        };
        let a = attrs("list", "default", "pods");
        assert_eq!(deny_then_allow.authorize(&a).await.0, Decision::Allow);
        let deny = Authorizer {
            modes: vec![Mode::AlwaysDeny],
            rbac: None,
            node: None,
        };
        assert_eq!(
            deny.authorize(&a).await,
            (Decision::NoOpinion, "Everything is forbidden.".to_string())
        );
        let mut admin = a.clone();
        admin.user.groups.push(MASTERS.into());
        assert_eq!(deny.authorize(&admin).await.0, Decision::Allow);
    }
}
