//! Per-resource behaviour as data plus hooks, the way kube-apiserver's
//! `rest.RESTCreateStrategy`/`RESTUpdateStrategy` work.
//!
//! Hooks see only `serde_json::Value` objects: no HTTP, no etcd. The generic
//! store (`registry/generic`) calls them around every write; tables for
//! `kubectl get` come from `columns`/`cells`.

mod batch;
mod core;
mod namespace;
pub mod pod;
mod service;
mod workloads;

pub use self::core::{
    default_limit_range, ComponentStatusStrategy, ConfigMapStrategy, EndpointsStrategy, EventStrategy, LeaseStrategy,
    LimitRangeStrategy, NodeStrategy, PriorityClassStrategy, SecretStrategy, ServiceAccountStrategy,
};
pub use batch::{CronJobStrategy, JobStrategy};
pub use namespace::NamespaceStrategy;
pub use pod::PodStrategy;
pub use service::ServiceStrategy;
pub use workloads::{DaemonSetStrategy, DeploymentStrategy, ReplicaSetStrategy, StatefulSetStrategy};

use serde_json::{json, Value};

use super::validation::{FieldError, NameRule};

/// One Table column (metav1.TableColumnDefinition).
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub priority: i32,
    pub description: &'static str,
}

pub const fn col(name: &'static str, kind: &'static str, priority: i32) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        description: "",
    }
}

pub const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
};
pub const AGE: Column = Column {
    name: "Age",
    kind: "string",
    format: "",
    priority: 0,
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
};

/// rest.GarbageCollectionPolicy: what deleting an object does to its dependents by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcPolicy {
    /// Background deletion of dependents (apps/v1 and most resources).
    DeleteDependents,
    /// The "orphan" finalizer by default (batch/v1 Jobs, for backward compatibility).
    OrphanDependents,
    /// No garbage-collection finalizers at all.
    Unsupported,
}

pub trait Strategy: Send + Sync {
    /// Which DNS rule `metadata.name` follows.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }
    /// Defaults and cleared fields before the first write (PrepareForCreate + defaulting).
    fn prepare_for_create(&self, _obj: &mut Value) {}
    /// Type-specific validation (metadata is validated generically).
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
    /// Carry over what an update must not change (PrepareForUpdate + defaulting).
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        self.defaults(new);
    }
    /// Defaulting applied to every write.
    fn defaults(&self, _obj: &mut Value) {}
    /// Validation of an update.
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate(new)
    }
    /// Whether the spec changed generation should bump (objects with `generation`).
    fn tracks_generation(&self) -> bool {
        false
    }
    /// Some(grace seconds) if deleting this object should only mark it.
    fn graceful_delete(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
    /// Default handling of dependents when no propagation policy is given.
    fn default_gc_policy(&self) -> GcPolicy {
        GcPolicy::DeleteDependents
    }
    /// Table columns after Name (Age included where it belongs).
    fn columns(&self) -> Vec<Column> {
        vec![NAME, AGE]
    }
    /// Table cells matching `columns`.
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![json!(super::meta::name(obj)), json!(age(obj))]
    }
    /// Custom resources: the apiVersion objects are stored with (always as JSON, whatever
    /// `--storage-media-type` says). None: a built-in.
    fn storage_api_version(&self) -> Option<&str> {
        None
    }
    /// The object as stored, when that differs from the served form (another version).
    fn for_storage(&self, _obj: &Value) -> Option<Value> {
        None
    }
    /// Turn a stored object into the served form (version conversion, read-time defaults).
    fn on_read(&self, _obj: &mut Value) {}
    /// Schema-driven pruning (custom resources): drop unknown fields, return their paths.
    /// None: the built-in schema table decides (`registry::field_validation`).
    fn prune_unknown(&self, _obj: &mut Value) -> Option<Vec<String>> {
        None
    }
    /// A `status` subresource write: adjust the object to store, return validation errors.
    fn prepare_status_update(&self, _new: &mut Value) -> Vec<FieldError> {
        Vec::new()
    }
    /// A delete request reached an object not being deleted yet (CRDs add their cleanup
    /// finalizer here, as kube's CRD REST does).
    fn before_delete(&self, _obj: &mut Value) {}
    /// Where the `scale` subresource reads and writes; None: spec.replicas and the
    /// selector's matchLabels (the built-in workloads).
    fn scale_paths(&self) -> Option<&super::scale::ScalePaths> {
        None
    }
    /// The OpenAPI v3 schema published for this kind (custom resources); None: built from
    /// the built-in schema table.
    fn openapi_schema(&self) -> Option<&Value> {
        None
    }
}

/// The AGE cell.
pub fn age(obj: &Value) -> String {
    super::meta::human_age(super::meta::meta_str(obj, "creationTimestamp"))
}

/// `obj[ptr]` as &str or "".
pub fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `obj[ptr]` as i64 or 0.
pub fn n(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Set `obj[ptr]` to `v` if absent/null; creates parent objects.
pub fn default_at(obj: &mut Value, ptr: &str, v: Value) {
    if obj.pointer(ptr).is_some_and(|x| !x.is_null()) {
        return;
    }
    set_at(obj, ptr, v);
}

/// Set `obj[ptr]` to `v`, creating parent objects.
pub fn set_at(obj: &mut Value, ptr: &str, v: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v);
            return;
        }
        cur = m.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

/// Strategy for resources without special behaviour.
pub struct PlainStrategy;
impl Strategy for PlainStrategy {}

/// certificates.k8s.io CertificateSigningRequest: born without a status (no approval, no
/// certificate); `spec.username`/`groups`/`uid` come from the requester (set by the handler).
pub struct CertificateSigningRequestStrategy;
impl Strategy for CertificateSigningRequestStrategy {
    /// Kubernetes: "we don't care what you call your certificate requests" (kubelets use
    /// `node-csr-<base64url>`, with capitals and underscores).
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if s(obj, "/spec/request").is_empty() {
            errs.push(FieldError::required("spec.request", ""));
        }
        if s(obj, "/spec/signerName").is_empty() {
            errs.push(FieldError::required("spec.signerName", ""));
        }
        errs
    }
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            AGE,
            col("SignerName", "string", 0),
            col("Requestor", "string", 0),
            col("Condition", "string", 0),
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut conds: Vec<&str> = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| s(c, "/status") == "True")
            .map(|c| s(c, "/type"))
            .collect();
        if obj
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
        {
            conds.push("Issued");
        }
        let condition = if conds.is_empty() {
            "Pending".to_string()
        } else {
            conds.join(",")
        };
        vec![
            json!(super::meta::name(obj)),
            json!(age(obj)),
            json!(s(obj, "/spec/signerName")),
            json!(s(obj, "/spec/username")),
            json!(condition),
        ]
    }
}

/// rbac.authorization.k8s.io objects: names are path segments (`system:node`,
/// `system:controller:…`), as kube's ValidateRBACName allows.
pub struct RbacStrategy;
impl Strategy for RbacStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
}

/// Objects born with `status.phase: Pending` (PersistentVolume, PersistentVolumeClaim).
pub struct PendingPhaseStrategy;
impl Strategy for PendingPhaseStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending"});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaulting_helpers() {
        let mut v = json!({"spec":{"a":1}});
        default_at(&mut v, "/spec/a", json!(2));
        default_at(&mut v, "/spec/b/c", json!(3));
        assert_eq!(v, json!({"spec":{"a":1,"b":{"c":3}}}));
        assert_eq!(n(&v, "/spec/b/c"), 3);
    }
}
