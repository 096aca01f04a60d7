//! The resource table: every served resource declared as data.
//!
//! Group/version/kind, names for discovery, scope, the etcd key prefix
//! (kube-apiserver 1.20's special prefixes: nodes→minions,
//! services→services/specs, endpoints→services/endpoints,
//! replicationcontrollers→controllers, ingresses→ingress, CRDs under
//! apiextensions.k8s.io/customresourcedefinitions), subresources, selectable fields
//! and the strategy. Adding a resource = adding a row.
//!
//! Besides the static rows, a dynamic set of rows derived from
//! CustomResourceDefinitions (`registry::crd`) is looked up by the same `find`/`all`.
//! Those rows are interned: one `ResourceInfo` (and its strategy) is leaked per distinct
//! CRD version definition, and re-adding an identical definition reuses it, so every call
//! site keeps a plain `&'static ResourceInfo` and the leak is bounded by the number of
//! distinct definitions ever served.

use super::crd::CustomResourceDefinitionStrategy;
use super::strategy::*;
use crate::error::GroupResource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Status,
    Binding,
    Finalize,
    Scale,
    /// CertificateSigningRequest approval: only `status.conditions` changes.
    Approval,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Binding => "binding",
            Subresource::Finalize => "finalize",
            Subresource::Scale => "scale",
            Subresource::Approval => "approval",
        }
    }
}

pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub etcd_prefix: &'static str,
    pub subresources: &'static [Subresource],
    /// Field selector labels beyond metadata.name / metadata.namespace.
    pub fields: &'static [&'static str],
    /// Written with an etcd lease of `--event-ttl`.
    pub ttl: bool,
    /// Top-level fields besides apiVersion/kind/metadata (fieldValidation).
    pub top_fields: &'static [&'static str],
    pub strategy: &'static dyn Strategy,
    /// Where the objects come from: the store, or answered without storage.
    pub serving: Serving,
}

/// How a resource is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Objects in the store, every verb.
    Stored,
    /// Not stored: a POST is answered by `http::reviews` (access and token reviews), the
    /// only verb served.
    CreateOnly,
    /// Not stored: get and list are computed on each request (componentstatuses,
    /// `http::componentstatus`).
    ComputedReadOnly,
}

impl ResourceInfo {
    pub fn create_only(&self) -> bool {
        self.serving == Serving::CreateOnly
    }
    pub fn stored(&self) -> bool {
        self.serving == Serving::Stored
    }
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group,
            resource: self.plural,
        }
    }
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }
    /// A custom resource (a CRD-derived row): stored as JSON with the storage version.
    pub fn is_custom(&self) -> bool {
        self.strategy.storage_api_version().is_some()
    }
}

const ALL: &[&str] = &["all"];
const SPEC_STATUS: &[&str] = &["spec", "status"];
const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

macro_rules! res {
    ($g:expr, $v:expr, $kind:expr, $plural:expr, $singular:expr, $short:expr, $cat:expr,
     $ns:expr, $prefix:expr, $subs:expr, $fields:expr, $strategy:expr) => {
        ResourceInfo {
            group: $g,
            version: $v,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            short_names: $short,
            categories: $cat,
            namespaced: $ns,
            etcd_prefix: $prefix,
            subresources: $subs,
            fields: $fields,
            ttl: false,
            top_fields: SPEC_STATUS,
            strategy: &$strategy,
            serving: Serving::Stored,
        }
    };
}

/// A create-only review resource (not stored; `etcd_prefix` unused).
macro_rules! review {
    ($g:expr, $kind:expr, $plural:expr, $ns:expr) => {
        ResourceInfo {
            serving: Serving::CreateOnly,
            ..res!(
                $g,
                "v1",
                $kind,
                $plural,
                "",
                &[],
                &[],
                $ns,
                $plural,
                &[],
                &[],
                PlainStrategy
            )
        }
    };
}

use Subresource::*;

#[rustfmt::skip]
pub static RESOURCES: &[ResourceInfo] = &[
    res!("", "v1", "Namespace", "namespaces", "namespace", &["ns"], &[], false,
         "namespaces", &[Status, Finalize], &["status.phase"], NamespaceStrategy),
    res!("", "v1", "Pod", "pods", "pod", &["po"], ALL, true, "pods",
         &[Status, Binding], POD_FIELDS, PodStrategy),
    res!("", "v1", "Node", "nodes", "node", &["no"], &[], false, "minions",
         &[Status], &["spec.unschedulable"], NodeStrategy),
    res!("", "v1", "Service", "services", "service", &["svc"], ALL, true, "services/specs",
         &[Status], &[], ServiceStrategy),
    ResourceInfo {
        top_fields: &["subsets"],
        ..res!("", "v1", "Endpoints", "endpoints", "endpoints", &["ep"], &[], true,
               "services/endpoints", &[], &[], EndpointsStrategy)
    },
    ResourceInfo {
        top_fields: &["data", "binaryData", "immutable"],
        ..res!("", "v1", "ConfigMap", "configmaps", "configmap", &["cm"], &[], true,
               "configmaps", &[], &[], ConfigMapStrategy)
    },
    ResourceInfo {
        top_fields: &["data", "stringData", "type", "immutable"],
        ..res!("", "v1", "Secret", "secrets", "secret", &[], &[], true, "secrets",
               &[], &["type"], SecretStrategy)
    },
    ResourceInfo {
        top_fields: &["secrets", "imagePullSecrets", "automountServiceAccountToken"],
        ..res!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", &["sa"], &[],
               true, "serviceaccounts", &[], &[], ServiceAccountStrategy)
    },
    ResourceInfo {
        ttl: true,
        top_fields: &[
            "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp",
            "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
            "reportingInstance",
        ],
        ..res!("", "v1", "Event", "events", "event", &["ev"], &[], true, "events",
               &[], EVENT_FIELDS, EventStrategy)
    },
    ResourceInfo {
        serving: Serving::ComputedReadOnly,
        ..res!("", "v1", "ComponentStatus", "componentstatuses", "componentstatus", &["cs"], &[], false,
               "componentstatuses", &[], &[], ComponentStatusStrategy)
    },
    res!("apps", "v1", "Deployment", "deployments", "deployment", &["deploy"], ALL, true,
         "deployments", &[Status, Scale], &[], DeploymentStrategy),
    res!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", &["rs"], ALL, true,
         "replicasets", &[Status, Scale], &[], ReplicaSetStrategy),
    res!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", &["ds"], ALL, true,
         "daemonsets", &[Status], &[], DaemonSetStrategy),
    res!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", &["sts"], ALL, true,
         "statefulsets", &[Status, Scale], &[], StatefulSetStrategy),
    res!("coordination.k8s.io", "v1", "Lease", "leases", "lease", &[], &[], true, "leases",
         &[], &[], LeaseStrategy),
    ResourceInfo {
        top_fields: &["addressType", "endpoints", "ports"],
        ..res!("discovery.k8s.io", "v1beta1", "EndpointSlice", "endpointslices", "endpointslice",
               &[], &[], true, "endpointslices", &[], &[], PlainStrategy)
    },
    res!("storage.k8s.io", "v1", "CSINode", "csinodes", "csinode", &[], &[], false, "csinodes",
         &[], &[], PlainStrategy),
    ResourceInfo {
        top_fields: &["handler", "overhead", "scheduling"],
        ..res!("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", "runtimeclass", &[], &[],
               false, "runtimeclasses", &[], &[], PlainStrategy)
    },
    res!("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", &[], &[], false,
         "csidrivers", &[], &[], PlainStrategy),
    res!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", &["pv"], &[],
         false, "persistentvolumes", &[Status], &[], PendingPhaseStrategy),
    res!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim",
         &["pvc"], &[], true, "persistentvolumeclaims", &[Status], &[], PendingPhaseStrategy),
    ResourceInfo {
        top_fields: &["spec"],
        ..res!("", "v1", "LimitRange", "limitranges", "limitrange", &["limits"], &[], true,
               "limitranges", &[], &[], LimitRangeStrategy)
    },
    res!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", &["quota"], &[], true,
         "resourcequotas", &[Status], &[], PlainStrategy),
    ResourceInfo {
        top_fields: &["template"],
        ..res!("", "v1", "PodTemplate", "podtemplates", "podtemplate", &[], &[], true,
               "podtemplates", &[], &[], PlainStrategy)
    },
    res!("batch", "v1", "Job", "jobs", "job", &[], ALL, true, "jobs", &[Status], &[],
         JobStrategy),
    // batch/v1 (Kubernetes 1.21+, what kubectl 1.32 creates) and 1.20's batch/v1beta1 share
    // one store.
    res!("batch", "v1", "CronJob", "cronjobs", "cronjob", &["cj"], ALL, true, "cronjobs",
         &[Status], &[], CronJobStrategy),
    res!("batch", "v1beta1", "CronJob", "cronjobs", "cronjob", &["cj"], ALL, true, "cronjobs",
         &[Status], &[], CronJobStrategy),
    ResourceInfo {
        top_fields: &["rules"],
        ..res!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", &[], &[], true,
               "roles", &[], &[], RbacStrategy)
    },
    ResourceInfo {
        top_fields: &["rules", "aggregationRule"],
        ..res!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole",
               &[], &[], false, "clusterroles", &[], &[], RbacStrategy)
    },
    ResourceInfo {
        top_fields: &["subjects", "roleRef"],
        ..res!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding",
               &[], &[], true, "rolebindings", &[], &[], RbacStrategy)
    },
    ResourceInfo {
        top_fields: &["subjects", "roleRef"],
        ..res!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
               "clusterrolebinding", &[], &[], false, "clusterrolebindings", &[], &[], RbacStrategy)
    },
    ResourceInfo {
        top_fields: &[
            "provisioner", "parameters", "reclaimPolicy", "mountOptions", "allowVolumeExpansion",
            "volumeBindingMode", "allowedTopologies",
        ],
        ..res!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", &["sc"],
               &[], false, "storageclasses", &[], &[], PlainStrategy)
    },
    res!("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", "volumeattachment",
         &[], &[], false, "volumeattachments", &[Status], &[], PlainStrategy),
    ResourceInfo {
        top_fields: &["value", "globalDefault", "description", "preemptionPolicy"],
        ..res!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass",
               &["pc"], &[], false, "priorityclasses", &[], &[], PriorityClassStrategy)
    },
    res!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
         "poddisruptionbudget", &["pdb"], &[], true, "poddisruptionbudgets", &[Status], &[],
         PlainStrategy),
    res!("policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets",
         "poddisruptionbudget", &["pdb"], &[], true, "poddisruptionbudgets", &[Status], &[],
         PlainStrategy),
    res!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy",
         &["netpol"], &[], true, "networkpolicies", &[], &[], PlainStrategy),
    res!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", &["ing"], &[], true,
         "ingress", &[Status], &[], PlainStrategy),
    res!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", &[], &[],
         false, "ingressclasses", &[], &[], PlainStrategy),
    ResourceInfo {
        top_fields: &["data", "revision"],
        ..res!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision",
               &[], &[], true, "controllerrevisions", &[], &[], PlainStrategy)
    },
    res!("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
         "horizontalpodautoscaler", &["hpa"], ALL, true, "horizontalpodautoscalers", &[Status],
         &[], PlainStrategy),
    res!("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
         "certificatesigningrequest", &["csr"], &[], false, "certificatesigningrequests",
         &[Status, Approval], &["spec.signerName"], CertificateSigningRequestStrategy),
    review!("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
    review!("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
    review!("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
    review!("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
    review!("authentication.k8s.io", "TokenReview", "tokenreviews", false),
    res!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
         "customresourcedefinition", &["crd", "crds"], &[], false,
         "apiextensions.k8s.io/customresourcedefinitions", &[Status], &[],
         CustomResourceDefinitionStrategy),
];

/// The CRD-derived rows, in discovery order (kept by `registry::crd`).
static DYNAMIC: std::sync::RwLock<Vec<&'static ResourceInfo>> = std::sync::RwLock::new(Vec::new());

/// Replace the CRD-derived rows.
pub fn set_dynamic(rows: Vec<&'static ResourceInfo>) {
    match DYNAMIC.write() {
        Ok(mut g) => *g = rows,
        Err(poisoned) => *poisoned.into_inner() = rows,
    }
}

fn dynamic() -> Vec<&'static ResourceInfo> {
    match DYNAMIC.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Every served resource: the static rows, then the CRD-derived ones.
pub fn all() -> Vec<&'static ResourceInfo> {
    RESOURCES.iter().chain(dynamic()).collect()
}

/// Look a resource up by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    let hit = |r: &&ResourceInfo| r.group == group && r.version == version && r.plural == plural;
    RESOURCES.iter().find(hit).or_else(|| dynamic().into_iter().find(hit))
}

/// Groups (other than core) with their versions, in table order.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in all().into_iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_prefixes_match_kube_apiserver() {
        let prefix = |g, p| find(g, "v1", p).map(|r| r.etcd_prefix);
        assert_eq!(prefix("", "nodes"), Some("minions"));
        assert_eq!(prefix("", "services"), Some("services/specs"));
        assert_eq!(prefix("", "endpoints"), Some("services/endpoints"));
        assert_eq!(prefix("apps", "deployments"), Some("deployments"));
        assert_eq!(prefix("coordination.k8s.io", "leases"), Some("leases"));
        assert!(find("", "v1", "events").is_some_and(|r| r.ttl));
        assert_eq!(prefix("networking.k8s.io", "ingresses"), Some("ingress"));
        assert_eq!(
            prefix("apiextensions.k8s.io", "customresourcedefinitions"),
            Some("apiextensions.k8s.io/customresourcedefinitions")
        );
        assert_eq!(prefix("batch", "jobs"), Some("jobs"));
    }
}
