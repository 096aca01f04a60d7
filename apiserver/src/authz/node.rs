//! The Node authorizer (kube's `plugin/pkg/auth/authorizer/node`): a kubelet
//! (`system:node:<name>` in group `system:nodes`) may read the secrets, configmaps,
//! PersistentVolumeClaims and PersistentVolumes that pods bound to its node reference,
//! the VolumeAttachments of its node, its own Lease and CSINode, and what kube's
//! `NodeRules()` (the `system:node` role) allow; everything else is NoOpinion.
//!
//! Instead of kube's graph, relationships are computed per request from pod, PV and
//! VolumeAttachment caches (`informer`): secret/configmap/PVC ← pod → node,
//! PV → PVC, PV's secrets → PV, ServiceAccount ← pod, VolumeAttachment → node.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::rbac::PolicyRule;
use super::{Attributes, Decision, UserInfo};
use crate::registry::generic::Store;
use crate::registry::informer::Informer;
use crate::registry::resources::find;

pub const NODES_GROUP: &str = "system:nodes";
const NODE_USER_PREFIX: &str = "system:node:";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// kube's default NodeIdentifier: Some(node name) for `system:node:<name>` in `system:nodes`
/// (the name may be empty).
pub fn node_name(user: &UserInfo) -> Option<String> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.in_group(NODES_GROUP).then(|| name.to_string())
}

/// What a bound pod references.
#[derive(Debug, Default)]
pub struct PodRefs {
    pub node: String,
    pub namespace: String,
    pub service_account: String,
    pub secrets: Vec<String>,
    pub configmaps: Vec<String>,
    pub claims: Vec<String>,
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, p: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(p).and_then(Value::as_array).into_iter().flatten()
}

fn push(list: &mut Vec<String>, name: &str) {
    if !name.is_empty() && !list.iter().any(|x| x == name) {
        list.push(name.to_string());
    }
}

/// podutil.VisitPodSecretNames / VisitPodConfigmapNames and the pod's claims.
pub fn pod_refs(pod: &Value) -> Option<PodRefs> {
    let node = s(pod, "/spec/nodeName");
    if node.is_empty() {
        return None;
    }
    let mut r = PodRefs {
        node: node.to_string(),
        namespace: s(pod, "/metadata/namespace").to_string(),
        service_account: s(pod, "/spec/serviceAccountName").to_string(),
        ..Default::default()
    };
    for p in arr(pod, "/spec/imagePullSecrets") {
        push(&mut r.secrets, s(p, "/name"));
    }
    for list in ["/spec/containers", "/spec/initContainers", "/spec/ephemeralContainers"] {
        for c in arr(pod, list) {
            for e in arr(c, "/envFrom") {
                push(&mut r.secrets, s(e, "/secretRef/name"));
                push(&mut r.configmaps, s(e, "/configMapRef/name"));
            }
            for e in arr(c, "/env") {
                push(&mut r.secrets, s(e, "/valueFrom/secretKeyRef/name"));
                push(&mut r.configmaps, s(e, "/valueFrom/configMapKeyRef/name"));
            }
        }
    }
    let pod_name = s(pod, "/metadata/name");
    for v in arr(pod, "/spec/volumes") {
        push(&mut r.secrets, s(v, "/secret/secretName"));
        push(&mut r.secrets, s(v, "/azureFile/secretName"));
        push(&mut r.secrets, s(v, "/csi/nodePublishSecretRef/name"));
        for src in ["cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos"] {
            push(&mut r.secrets, s(v, &format!("/{src}/secretRef/name")));
        }
        for p in arr(v, "/projected/sources") {
            push(&mut r.secrets, s(p, "/secret/name"));
            push(&mut r.configmaps, s(p, "/configMap/name"));
        }
        push(&mut r.configmaps, s(v, "/configMap/name"));
        push(&mut r.claims, s(v, "/persistentVolumeClaim/claimName"));
        if v.get("ephemeral").is_some_and(|e| !e.is_null()) {
            push(&mut r.claims, &format!("{pod_name}-{}", s(v, "/name")));
        }
    }
    Some(r)
}

/// What a PersistentVolume references: its claim and secrets as (namespace, name).
#[derive(Debug, Default)]
pub struct PvRefs {
    pub claim: Option<(String, String)>,
    pub secrets: Vec<(String, String)>,
}

pub fn pv_refs(pv: &Value) -> Option<PvRefs> {
    let mut r = PvRefs::default();
    let (cns, cname) = (s(pv, "/spec/claimRef/namespace"), s(pv, "/spec/claimRef/name"));
    if !cname.is_empty() {
        r.claim = Some((cns.to_string(), cname.to_string()));
    }
    let spec = pv.get("spec").cloned().unwrap_or(Value::Null);
    let mut add = |ns: &str, name: &str| {
        if !name.is_empty() {
            r.secrets.push((ns.to_string(), name.to_string()));
        }
    };
    for k in [
        "controllerPublishSecretRef",
        "nodeStageSecretRef",
        "nodePublishSecretRef",
        "controllerExpandSecretRef",
    ] {
        add(
            s(&spec, &format!("/csi/{k}/namespace")),
            s(&spec, &format!("/csi/{k}/name")),
        );
    }
    for src in ["cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos"] {
        let ns = match s(&spec, &format!("/{src}/secretRef/namespace")) {
            "" => "default",
            n => n,
        };
        add(ns, s(&spec, &format!("/{src}/secretRef/name")));
    }
    if let Some(af) = spec.get("azureFile") {
        let ns = match s(af, "/secretNamespace") {
            "" => cns,
            n => n,
        };
        add(ns, s(af, "/secretName"));
    }
    Some(r)
}

fn va_node(va: &Value) -> Option<String> {
    Some(s(va, "/spec/nodeName").to_string())
}

pub struct NodeAuthorizer {
    pods: Arc<Informer<PodRefs>>,
    pvs: Arc<Informer<PvRefs>>,
    attachments: Arc<Informer<String>>,
    rules: Vec<PolicyRule>,
}

type Verdict = (Decision, String);

fn no(reason: impl Into<String>) -> Verdict {
    (Decision::NoOpinion, reason.into())
}

fn allow() -> Verdict {
    (Decision::Allow, String::new())
}

impl NodeAuthorizer {
    pub fn start(store: &Arc<Store>) -> NodeAuthorizer {
        let res = |g, p| find(g, "v1", p).unwrap_or_else(|| panic!("{p} is in the resource table"));
        NodeAuthorizer {
            pods: Informer::spawn(store.clone(), res("", "pods"), pod_refs),
            pvs: Informer::spawn(store.clone(), res("", "persistentvolumes"), pv_refs),
            attachments: Informer::spawn(store.clone(), res("storage.k8s.io", "volumeattachments"), va_node),
            rules: super::bootstrap::node_rules(),
        }
    }

    /// Fixed objects (unit tests).
    pub fn fixed(pods: &[Value], pvs: &[Value]) -> NodeAuthorizer {
        NodeAuthorizer {
            pods: Informer::fixed(pods, pod_refs),
            pvs: Informer::fixed(pvs, pv_refs),
            attachments: Informer::fixed(&[], va_node),
            rules: super::bootstrap::node_rules(),
        }
    }

    pub async fn authorize(&self, a: &Attributes) -> Verdict {
        let Some(node) = node_name(&a.user) else {
            return no("");
        };
        if node.is_empty() {
            return no(format!("unknown node for user {:?}", a.user.name));
        }
        if a.resource_request {
            let limit = Duration::from_secs(10);
            self.pods.wait_synced(limit).await;
            self.pvs.wait_synced(limit).await;
            match (a.api_group.as_str(), a.resource.as_str()) {
                ("", "secrets") => return self.read_namespaced(&node, a, Kind::Secret),
                ("", "configmaps") => return self.read_namespaced(&node, a, Kind::ConfigMap),
                ("", "persistentvolumeclaims") => {
                    if a.subresource == "status" {
                        if a.verb != "update" && a.verb != "patch" {
                            return no("can only get/update/patch this type");
                        }
                        return self.related(&node, a, Kind::Claim);
                    }
                    return self.get_only(&node, a, Kind::Claim);
                }
                ("", "persistentvolumes") => return self.get_only(&node, a, Kind::Volume),
                ("storage.k8s.io", "volumeattachments") => return self.get_only(&node, a, Kind::Attachment),
                ("", "serviceaccounts") => {
                    if a.verb != "create" || a.name.is_empty() {
                        return no("can only create tokens for individual service accounts");
                    }
                    if a.subresource != "token" {
                        return no("can only create token subresource of serviceaccount");
                    }
                    return self.related(&node, a, Kind::ServiceAccount);
                }
                ("coordination.k8s.io", "leases") => {
                    if !matches!(a.verb.as_str(), "get" | "create" | "update" | "patch" | "delete") {
                        return no("can only get, create, update, patch, or delete a node lease");
                    }
                    if a.namespace != NODE_LEASE_NAMESPACE {
                        return no(format!(
                            "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
                        ));
                    }
                    if a.verb != "create" && a.name != node {
                        return no("can only access node lease with the same name as the requesting node");
                    }
                    return allow();
                }
                ("storage.k8s.io", "csinodes") => {
                    if !matches!(a.verb.as_str(), "get" | "create" | "update" | "patch" | "delete") {
                        return no("can only get, create, update, patch, or delete a CSINode");
                    }
                    if !a.subresource.is_empty() {
                        return no("cannot authorize CSINode subresources");
                    }
                    if a.verb != "create" && a.name != node {
                        return no("can only access CSINode with the same name as the requesting node");
                    }
                    return allow();
                }
                _ => {}
            }
        }
        if self.rules.iter().any(|r| r.allows(a)) {
            return allow();
        }
        no("")
    }

    fn read_namespaced(&self, node: &str, a: &Attributes, kind: Kind) -> Verdict {
        if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
            return no("can only read resources of this type");
        }
        if !a.subresource.is_empty() {
            return no("cannot read subresource");
        }
        if a.namespace.is_empty() {
            return no("can only read namespaced object of this type");
        }
        self.related(node, a, kind)
    }

    fn get_only(&self, node: &str, a: &Attributes, kind: Kind) -> Verdict {
        if a.verb != "get" {
            return no("can only get individual resources of this type");
        }
        if !a.subresource.is_empty() {
            return no("cannot get subresource");
        }
        self.related(node, a, kind)
    }

    fn related(&self, node: &str, a: &Attributes, kind: Kind) -> Verdict {
        if a.name.is_empty() {
            return no("No Object name found");
        }
        if self.has_path(node, kind, &a.namespace, &a.name) {
            allow()
        } else {
            no(format!("no relationship found between node '{node}' and this object"))
        }
    }

    fn has_path(&self, node: &str, kind: Kind, ns: &str, name: &str) -> bool {
        let pods: Vec<Arc<PodRefs>> = self.pods.all().into_iter().filter(|p| p.node == node).collect();
        let uses_claim = |cns: &str, cname: &str| {
            pods.iter()
                .any(|p| p.namespace == cns && p.claims.iter().any(|c| c == cname))
        };
        let volume_on_node = |pv: &PvRefs| pv.claim.as_ref().is_some_and(|(cns, cname)| uses_claim(cns, cname));
        let named = |l: &[String]| l.iter().any(|x| x == name);
        match kind {
            Kind::Secret => {
                pods.iter().any(|p| p.namespace == ns && named(&p.secrets))
                    || self
                        .pvs
                        .all()
                        .iter()
                        .any(|pv| pv.secrets.iter().any(|(sns, sn)| sns == ns && sn == name) && volume_on_node(pv))
            }
            Kind::ConfigMap => pods.iter().any(|p| p.namespace == ns && named(&p.configmaps)),
            Kind::Claim => uses_claim(ns, name),
            Kind::Volume => self.pvs.get("", name).is_some_and(|pv| volume_on_node(&pv)),
            Kind::ServiceAccount => pods.iter().any(|p| p.namespace == ns && p.service_account == name),
            Kind::Attachment => self.attachments.get("", name).is_some_and(|n| *n == node),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Secret,
    ConfigMap,
    Claim,
    Volume,
    ServiceAccount,
    Attachment,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_user(n: &str) -> UserInfo {
        UserInfo {
            name: format!("system:node:{n}"),
            uid: String::new(),
            groups: vec![NODES_GROUP.into(), "system:authenticated".into()],
        }
    }

    fn get(user: UserInfo, ns: &str, resource: &str, name: &str) -> Attributes {
        Attributes {
            user,
            verb: "get".into(),
            resource_request: true,
            api_version: "v1".into(),
            namespace: ns.into(),
            resource: resource.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn nodes_read_what_their_pods_reference() {
        let pods = [
            json!({"metadata":{"name":"p1","namespace":"default"},"spec":{"nodeName":"node1",
                "containers":[{"env":[{"valueFrom":{"configMapKeyRef":{"name":"cm1"}}}]}],
                "volumes":[{"name":"s","secret":{"secretName":"s1"}},{"name":"c","persistentVolumeClaim":{"claimName":"c1"}}]}}),
            json!({"metadata":{"name":"p2","namespace":"default"},"spec":{"nodeName":"node2",
                "volumes":[{"name":"s","secret":{"secretName":"s2"}}]}}),
            json!({"metadata":{"name":"p3","namespace":"default"},"spec":{
                "volumes":[{"name":"s","secret":{"secretName":"s3"}}]}}),
        ];
        let pvs = [
            json!({"metadata":{"name":"pv1"},"spec":{"claimRef":{"namespace":"default","name":"c1"},
            "csi":{"driver":"d","nodePublishSecretRef":{"namespace":"kube-system","name":"csi-secret"}}}}),
        ];
        let na = NodeAuthorizer::fixed(&pods, &pvs);
        let n1 = node_user("node1");
        assert_eq!(
            na.authorize(&get(n1.clone(), "default", "secrets", "s1")).await.0,
            Decision::Allow
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "default", "secrets", "s2")).await,
            (
                Decision::NoOpinion,
                "no relationship found between node 'node1' and this object".into()
            )
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "default", "secrets", "s3")).await.0,
            Decision::NoOpinion,
            "unbound pods give nothing"
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "default", "configmaps", "cm1")).await.0,
            Decision::Allow
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "default", "persistentvolumeclaims", "c1"))
                .await
                .0,
            Decision::Allow
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "", "persistentvolumes", "pv1")).await.0,
            Decision::Allow
        );
        assert_eq!(
            na.authorize(&get(n1.clone(), "kube-system", "secrets", "csi-secret"))
                .await
                .0,
            Decision::Allow
        );
        assert_eq!(
            na.authorize(&get(node_user("node2"), "", "persistentvolumes", "pv1"))
                .await
                .0,
            Decision::NoOpinion
        );
        let mut del = get(n1.clone(), "default", "secrets", "s1");
        del.verb = "delete".into();
        assert_eq!(
            na.authorize(&del).await,
            (Decision::NoOpinion, "can only read resources of this type".into())
        );
        let mut lease = get(n1.clone(), "kube-node-lease", "leases", "node1");
        lease.api_group = "coordination.k8s.io".into();
        assert_eq!(na.authorize(&lease).await.0, Decision::Allow);
        lease.name = "node2".into();
        assert_eq!(na.authorize(&lease).await.0, Decision::NoOpinion);
        // The rest comes from the system:node rules.
        let mut status = get(n1.clone(), "", "nodes", "node1");
        status.subresource = "status".into();
        status.verb = "patch".into();
        assert_eq!(na.authorize(&status).await.0, Decision::Allow);
        let mut ev = get(n1.clone(), "default", "events", "");
        ev.verb = "create".into();
        assert_eq!(na.authorize(&ev).await.0, Decision::Allow);
        let mut not_node = get(n1, "default", "secrets", "s1");
        not_node.user.groups.clear();
        assert_eq!(na.authorize(&not_node).await, (Decision::NoOpinion, String::new()));
    }
}
