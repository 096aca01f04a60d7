//! The NodeRestriction admission plugin (kube's `plugin/pkg/admission/noderestriction`),
//! on when `--enable-admission-plugins` names it: a kubelet may only create mirror pods
//! bound to itself, delete and update the status of pods bound to itself, modify its own
//! Node (not its taints, nor labels under `node-restriction.kubernetes.io/` or other
//! kubernetes.io/k8s.io labels a kubelet does not own), its own Lease and CSINode, and
//! only the status of PVCs. Messages are kube's. (Pod eviction and TokenRequest are not
//! served here, so their checks are absent.)

use serde_json::{Map, Value};

use super::node::node_name;
use super::UserInfo;
use crate::error::{ApiError, Result};
use crate::registry::generic::Store;
use crate::registry::resources::find;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One write, as admission sees it.
pub struct Request<'a> {
    pub user: &'a UserInfo,
    pub op: Operation,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The new object (create, update).
    pub object: Option<&'a Value>,
    /// The object before (update, delete).
    pub old: Option<&'a Value>,
}

/// `--enable-admission-plugins`: kube's names; only NodeRestriction changes anything here
/// (1.20's default plugins are built in, others are accepted and not run); unknown names
/// are refused as kube does. Returns whether NodeRestriction is on.
pub fn parse_plugins(s: &str) -> std::result::Result<bool, String> {
    const KNOWN: &[&str] = &[
        "NodeRestriction",
        "NamespaceLifecycle",
        "LimitRanger",
        "ServiceAccount",
        "TaintNodesByCondition",
        "Priority",
        "DefaultTolerationSeconds",
        "DefaultStorageClass",
        "StorageObjectInUseProtection",
        "PersistentVolumeClaimResize",
        "RuntimeClass",
        "CertificateApproval",
        "CertificateSigning",
        "CertificateSubjectRestriction",
        "DefaultIngressClass",
        "MutatingAdmissionWebhook",
        "ValidatingAdmissionWebhook",
        "ResourceQuota",
        "AlwaysAdmit",
        "AlwaysPullImages",
        "EventRateLimit",
        "ExtendedResourceToleration",
        "LimitPodHardAntiAffinityTopology",
        "NamespaceAutoProvision",
        "NamespaceExists",
        "OwnerReferencesPermissionEnforcement",
        "PodNodeSelector",
        "PodSecurityPolicy",
        "PodTolerationRestriction",
        "SecurityContextDeny",
    ];
    let mut node_restriction = false;
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !KNOWN.contains(&p) {
            return Err(format!("enable-admission-plugins plugin {p:?} is unknown"));
        }
        node_restriction |= p == "NodeRestriction";
    }
    Ok(node_restriction)
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn labels(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

fn in_namespace(ns: &str, domain: &str) -> bool {
    ns == domain || ns.ends_with(&format!(".{domain}"))
}

const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

fn is_kubelet_label(key: &str) -> bool {
    let ns = label_namespace(key);
    KUBELET_LABELS.contains(&key) || in_namespace(ns, "kubelet.kubernetes.io") || in_namespace(ns, "node.kubernetes.io")
}

/// Changed label keys a kubelet may not set, sorted.
fn forbidden_labels(new: &Map<String, Value>, old: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(old.iter().filter(|(k, v)| new.get(*k) != Some(*v)).map(|(k, _)| k))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| {
            let ns = label_namespace(k);
            let kube = in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io");
            in_namespace(ns, "node-restriction.kubernetes.io") || (kube && !is_kubelet_label(k))
        })
        .cloned()
        .collect()
}

fn deny(req: &Request<'_>, message: String) -> ApiError {
    let name = if req.name.is_empty() {
        req.object.map(|o| s(o, "/metadata/name")).unwrap_or("")
    } else {
        req.name
    };
    ApiError::AccessDenied {
        group: req.group.to_string(),
        resource: req.resource.to_string(),
        name: name.to_string(),
        message,
    }
}

/// Admit a create or delete (looking up the pod or node it needs).
pub async fn admit(store: &Store, req: &Request<'_>) -> Result<()> {
    let Some(node) = node_name(req.user) else {
        return Ok(());
    };
    let mut node_uid = None;
    let mut existing = None;
    if req.group.is_empty() && req.resource == "pods" && req.subresource.is_empty() {
        match req.op {
            Operation::Create if req.object.is_some_and(|p| owner_is_node(p, &node)) => {
                let nodes = find("", "v1", "nodes").ok_or(ApiError::NoSuchResource)?;
                let n = store.get(nodes, None, &node).await?;
                node_uid = Some(s(&n, "/metadata/uid").to_string());
            }
            Operation::Delete if req.old.is_none() => {
                let pods = find("", "v1", "pods").ok_or(ApiError::NoSuchResource)?;
                existing = Some(store.get(pods, Some(req.namespace), req.name).await?);
            }
            _ => {}
        }
    }
    let req = Request {
        old: req.old.or(existing.as_ref()),
        ..*req
    };
    check(&req, &node, node_uid.as_deref())
}

/// Admit an update (both objects known; no lookups).
pub fn admit_update(req: &Request<'_>) -> Result<()> {
    match node_name(req.user) {
        Some(node) => check(req, &node, None),
        None => Ok(()),
    }
}

fn owner_is_node(pod: &Value, node: &str) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| o.len() == 1 && s(&o[0], "/kind") == "Node" && s(&o[0], "/name") == node)
}

/// The checks; `node_uid` is the node's uid for a mirror pod's owner reference.
fn check(req: &Request<'_>, node: &str, node_uid: Option<&str>) -> Result<()> {
    if node.is_empty() {
        return Err(deny(
            req,
            format!("could not determine node from user {:?}", req.user.name),
        ));
    }
    let err = |m: String| Err(deny(req, m));
    match (req.group, req.resource) {
        ("", "pods") => match (req.subresource, req.op) {
            ("", Operation::Create) => check_pod_create(req, node, node_uid),
            ("", Operation::Delete) => {
                if req.old.map(|p| s(p, "/spec/nodeName")) != Some(node) {
                    return err(format!(
                        "node {node:?} can only delete pods with spec.nodeName set to itself"
                    ));
                }
                Ok(())
            }
            ("", op) => err(format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                op.as_str()
            )),
            ("status", Operation::Update) => {
                if req.old.map(|p| s(p, "/spec/nodeName")) != Some(node) {
                    return err(format!(
                        "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                    ));
                }
                if labels(req.old) != labels(req.object) {
                    return err(format!("node {node:?} cannot update labels through pod status"));
                }
                Ok(())
            }
            ("status", op) => err(format!("unexpected operation {:?}", op.as_str())),
            (sub, _) => err(format!(
                "unexpected pod subresource {sub:?}, only 'status' and 'eviction' are allowed"
            )),
        },
        ("", "nodes") => {
            let requested = if req.name.is_empty() {
                req.object.map(|o| s(o, "/metadata/name")).unwrap_or("")
            } else {
                req.name
            };
            if requested != node {
                return err(format!("node {node:?} is not allowed to modify node {requested:?}"));
            }
            match req.op {
                Operation::Create => {
                    if req
                        .object
                        .is_some_and(|n| n.pointer("/spec/configSource").is_some_and(|c| !c.is_null()))
                    {
                        return err(format!(
                            "node {node:?} is not allowed to create pods with a non-nil configSource"
                        ));
                    }
                    let bad = forbidden_labels(&labels(req.object), &Map::new());
                    if !bad.is_empty() {
                        return err(format!(
                            "node {node:?} is not allowed to set the following labels: {}",
                            bad.join(", ")
                        ));
                    }
                }
                Operation::Update => {
                    let field =
                        |o: Option<&Value>, p: &str| o.and_then(|x| x.pointer(p)).filter(|v| !v.is_null()).cloned();
                    let cs = field(req.object, "/spec/configSource");
                    if cs.is_some() && cs != field(req.old, "/spec/configSource") {
                        return err(format!(
                            "node {node:?} is not allowed to update configSource to a new non-nil configSource"
                        ));
                    }
                    let taints = |o: Option<&Value>| {
                        field(o, "/spec/taints").filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
                    };
                    if taints(req.object) != taints(req.old) {
                        return err(format!("node {node:?} is not allowed to modify taints"));
                    }
                    let bad = forbidden_labels(&labels(req.object), &labels(req.old));
                    if !bad.is_empty() {
                        return err(format!("is not allowed to modify labels: {}", bad.join(", ")));
                    }
                }
                Operation::Delete => {}
            }
            Ok(())
        }
        ("", "persistentvolumeclaims") => {
            if req.subresource != "status" {
                return err("may only update PVC status".into());
            }
            if req.op != Operation::Update {
                return err(format!("unexpected operation {:?}", req.op.as_str()));
            }
            let strip = |o: Option<&Value>| {
                let mut v = o.cloned().unwrap_or(Value::Null);
                if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                    m.remove("managedFields");
                }
                if let Some(m) = v.get_mut("status").and_then(Value::as_object_mut) {
                    m.remove("capacity");
                    m.remove("conditions");
                }
                v
            };
            if strip(req.object) != strip(req.old) {
                return err(format!(
                    "node {node:?} is not allowed to update fields other than status.capacity and status.conditions"
                ));
            }
            Ok(())
        }
        ("coordination.k8s.io", "leases") => {
            if req.namespace != "kube-node-lease" {
                return err("can only access leases in the \"kube-node-lease\" system namespace".into());
            }
            let name = match req.op {
                Operation::Create => req.object.map(|o| s(o, "/metadata/name")).unwrap_or(""),
                _ => req.name,
            };
            if name != node {
                return err("can only access node lease with the same name as the requesting node".into());
            }
            Ok(())
        }
        ("storage.k8s.io", "csinodes") => {
            let name = match req.op {
                Operation::Create => req.object.map(|o| s(o, "/metadata/name")).unwrap_or(""),
                _ => req.name,
            };
            if name != node {
                return err("can only access CSINode with the same name as the requesting node".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_pod_create(req: &Request<'_>, node: &str, node_uid: Option<&str>) -> Result<()> {
    let err = |m: String| Err(deny(req, m));
    let Some(pod) = req.object else {
        return Ok(());
    };
    if pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_none()
    {
        return err(format!(
            "pod does not have \"kubernetes.io/config.mirror\" annotation, node {node:?} can only create mirror pods"
        ));
    }
    if s(pod, "/spec/nodeName") != node {
        return err(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let owners: Vec<Value> = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match owners.as_slice() {
        [] => {
            return err(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            ))
        }
        [o] => {
            if s(o, "/apiVersion") != "v1" || s(o, "/kind") != "Node" || s(o, "/name") != node {
                return err(format!(
                    "node {node:?} can only create pods with an owner reference set to itself"
                ));
            }
            if o.get("controller").and_then(Value::as_bool) != Some(true) {
                return err(format!(
                    "node {node:?} can only create pods with a controller owner reference set to itself"
                ));
            }
            if o.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                return err(format!(
                    "node {node:?} must not set blockOwnerDeletion on an owner reference"
                ));
            }
            let uid = node_uid.unwrap_or("");
            if s(o, "/uid") != uid {
                return err(format!("node {node} UID mismatch: expected {uid} got {}", s(o, "/uid")));
            }
        }
        _ => {
            return err(format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            ))
        }
    }
    if !s(pod, "/spec/serviceAccountName").is_empty() {
        return err(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    let mut with_node = pod.clone();
    with_node["spec"]["nodeName"] = Value::String(node.to_string());
    if let Some(refs) = super::node::pod_refs(&with_node) {
        if !refs.secrets.is_empty() {
            return err(format!("node {node:?} can not create pods that reference secrets"));
        }
        if !refs.configmaps.is_empty() {
            return err(format!("node {node:?} can not create pods that reference configmaps"));
        }
    }
    let claims = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|v| v.get("persistentVolumeClaim").is_some_and(|c| !c.is_null()));
    if claims {
        return err(format!(
            "node {node:?} can not create pods that reference persistentvolumeclaims"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node1() -> UserInfo {
        UserInfo {
            name: "system:node:node1".into(),
            uid: String::new(),
            groups: vec!["system:nodes".into()],
        }
    }

    fn req<'a>(user: &'a UserInfo, op: Operation, resource: &'a str, name: &'a str) -> Request<'a> {
        Request {
            user,
            op,
            group: "",
            resource,
            subresource: "",
            namespace: "",
            name,
            object: None,
            old: None,
        }
    }

    #[test]
    fn nodes_modify_only_themselves() {
        let u = node1();
        let old = json!({"metadata":{"name":"node2","labels":{}}});
        let mut r = req(&u, Operation::Update, "nodes", "node2");
        r.object = Some(&old);
        r.old = Some(&old);
        assert_eq!(
            admit_update(&r).map_err(|e| e.to_string()),
            Err("nodes \"node2\" is forbidden: node \"node1\" is not allowed to modify node \"node2\"".into())
        );
        let old = json!({"metadata":{"name":"node1","labels":{"a":"b"}}});
        let new = json!({"metadata":{"name":"node1","labels":{"a":"b","kubernetes.io/hostname":"h",
            "node-restriction.kubernetes.io/x":"y","node-role.kubernetes.io/master":""}}});
        let mut r = req(&u, Operation::Update, "nodes", "node1");
        r.object = Some(&new);
        r.old = Some(&old);
        assert_eq!(
            admit_update(&r).map_err(|e| e.to_string()),
            Err("nodes \"node1\" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/x, node-role.kubernetes.io/master".into())
        );
        let ok = json!({"metadata":{"name":"node1","labels":{"a":"c","kubernetes.io/hostname":"h","node.kubernetes.io/x":"1"}}});
        r.object = Some(&ok);
        assert!(admit_update(&r).is_ok());
        let tainted = json!({"metadata":{"name":"node1","labels":{"a":"b"}},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}});
        r.object = Some(&tainted);
        assert!(admit_update(&r).is_err(), "taints are the node controller's");
        let other = UserInfo {
            name: "bob".into(),
            ..Default::default()
        };
        let mut r = req(&other, Operation::Update, "nodes", "node2");
        r.object = Some(&new);
        assert!(admit_update(&r).is_ok(), "not a node: not restricted");
    }

    #[test]
    fn pods_status_and_mirror_pods() {
        let u = node1();
        let on2 = json!({"metadata":{"name":"p"},"spec":{"nodeName":"node2"}});
        let mut r = req(&u, Operation::Update, "pods", "p");
        r.subresource = "status";
        r.namespace = "default";
        r.object = Some(&on2);
        r.old = Some(&on2);
        assert_eq!(
            admit_update(&r).map_err(|e| e.to_string()),
            Err("pods \"p\" is forbidden: node \"node1\" can only update pod status for pods with spec.nodeName set to itself".into())
        );
        let plain = json!({"metadata":{"name":"p"},"spec":{"nodeName":"node1"}});
        let r = Request {
            op: Operation::Create,
            object: Some(&plain),
            namespace: "default",
            ..req(&u, Operation::Create, "pods", "")
        };
        assert_eq!(
            check(&r, "node1", None).map_err(|e| e.to_string()),
            Err("pods \"p\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" annotation, node \"node1\" can only create mirror pods".into())
        );
        let mirror = json!({"metadata":{"name":"p","annotations":{"kubernetes.io/config.mirror":"x"},
            "ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"node1","uid":"u1","controller":true}]},
            "spec":{"nodeName":"node1","containers":[{"name":"c"}]}});
        let r = Request {
            object: Some(&mirror),
            ..r
        };
        assert!(check(&r, "node1", Some("u1")).is_ok());
        assert!(check(&r, "node1", Some("u2")).is_err());
    }

    #[test]
    fn plugin_names_are_kubes() {
        assert_eq!(parse_plugins("NodeRestriction"), Ok(true));
        assert_eq!(parse_plugins("NamespaceLifecycle,ServiceAccount"), Ok(false));
        assert!(parse_plugins("NodeRestrictions").is_err());
    }
}
