//! `Store`: CRUD for any `ResourceInfo`, the equivalent of k8s.io/apiserver's
//! generic `registry.Store` over the etcd3 storage.
//!
//! Invariants: resourceVersion = the key's mod_revision; create is a Txn on
//! mod_revision == 0; update and delete are Txns on the revision read and
//! retry (GuaranteedUpdate) unless the client's resourceVersion is stale,
//! which is a 409 Conflict; unchanged bytes are not rewritten.
//! `create_owned`/`update_owned` take a `FieldOwner`: once the object is finished (defaulted,
//! validated) and before it is encoded, `finish_managed_fields` records its managedFields.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::registry::managed_fields::{self, FieldOwner};
use crate::registry::meta;
use crate::registry::resources::{ResourceInfo, Subresource, RESOURCES};
use crate::registry::strategy::{set_at, GcPolicy};
use crate::registry::validation::validate_meta;
use crate::storage::codec::{Codec, JsonCodec};
use crate::storage::etcd3::WriteOutcome;
use crate::storage::{keys, Etcd, StorageError};

const OPTIMISTIC_LOCK_MSG: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
    /// `propagationPolicy` (or the deprecated `orphanDependents`: true = Orphan).
    pub propagation: Option<Propagation>,
    /// `orphanDependents` was given as false (neither orphan nor foreground, explicitly).
    pub orphan_false: bool,
}

/// metav1.DeletionPropagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// The garbage-collector finalizers (metav1.FinalizerOrphanDependents / FinalizerDeleteDependents).
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// The finalizers a delete leaves on `current` for garbage collection, as kube's generic
/// store decides them (`deletionFinalizersForGarbageCollection`): an explicit option wins,
/// then a GC finalizer already there, then the resource's default policy.
pub fn gc_finalizers(current: &[String], opts: &DeleteOptions, default: GcPolicy) -> Vec<String> {
    let has = |f: &str| current.iter().any(|c| c == f);
    let (orphan, foreground) = if default == GcPolicy::Unsupported || opts.orphan_false {
        (false, false)
    } else {
        match opts.propagation {
            Some(Propagation::Orphan) => (true, false),
            Some(Propagation::Foreground) => (false, true),
            Some(Propagation::Background) => (false, false),
            None if has(ORPHAN_FINALIZER) => (true, false),
            None if has(FOREGROUND_FINALIZER) => (false, true),
            None => (default == GcPolicy::OrphanDependents, false),
        }
    };
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    if orphan {
        out.push(ORPHAN_FINALIZER.to_string());
    }
    if foreground {
        out.push(FOREGROUND_FINALIZER.to_string());
    }
    out
}

pub struct Store {
    pub(crate) etcd: Etcd,
    pub(crate) codec: Arc<dyn Codec>,
    event_ttl: i64,
    /// Lease reused for event writes for a minute (kube's LeaseManager).
    event_lease: tokio::sync::Mutex<Option<(i64, Instant)>>,
}

impl Store {
    pub fn new(etcd: Etcd, codec: Arc<dyn Codec>, event_ttl: i64) -> Self {
        Self {
            etcd,
            codec,
            event_ttl,
            event_lease: tokio::sync::Mutex::new(None),
        }
    }

    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    fn key(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<String> {
        if name.is_empty() {
            return Err(ApiError::BadRequest("Name parameter required.".into()));
        }
        keys::valid_path_segment(name)
            .map_err(|e| ApiError::BadRequest(format!("invalid resource name {name:?}: {e}")))?;
        let ns = if res.namespaced {
            Some(
                ns.filter(|n| !n.is_empty())
                    .ok_or_else(|| ApiError::BadRequest("Namespace parameter required.".into()))?,
            )
        } else {
            None
        };
        Ok(keys::object_key(res.etcd_prefix, ns, name))
    }

    pub(crate) fn decode(&self, kv: &proto::mvccpb::KeyValue) -> Result<Value> {
        let mut obj = self.codec.decode(&kv.value).map_err(|reason| {
            ApiError::from(StorageError::Decode {
                key: String::from_utf8_lossy(&kv.key).into_owned(),
                reason,
            })
        })?;
        meta::set_resource_version(&mut obj, kv.mod_revision);
        Ok(obj)
    }

    /// `decode` plus the strategy's conversion to the served form.
    pub(crate) fn decode_for(&self, res: &ResourceInfo, kv: &proto::mvccpb::KeyValue) -> Result<Value> {
        let mut obj = self.decode(kv)?;
        from_storage(res, &mut obj);
        Ok(obj)
    }

    fn encode(&self, res: &ResourceInfo, obj: &Value) -> Result<Vec<u8>> {
        let stored = res.strategy.for_storage(obj);
        let obj = stored.as_ref().unwrap_or(obj);
        if res.is_custom() {
            // Custom resources are JSON whatever --storage-media-type says, as in kube-apiserver.
            return JsonCodec.encode(obj).map_err(ApiError::Internal);
        }
        self.codec.encode(obj).map_err(ApiError::Internal)
    }

    async fn lease_for(&self, res: &ResourceInfo) -> Result<i64> {
        if !res.ttl {
            return Ok(0);
        }
        let mut g = self.event_lease.lock().await;
        if let Some((id, at)) = *g {
            if at.elapsed() < Duration::from_secs(60) {
                return Ok(id);
            }
        }
        let id = self.etcd.lease_grant(self.event_ttl + 60).await?;
        *g = Some((id, Instant::now()));
        Ok(id)
    }

    fn not_found(res: &ResourceInfo, name: &str) -> ApiError {
        ApiError::NotFound {
            resource: res.group_resource(),
            name: name.to_string(),
        }
    }

    pub async fn get(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<Value> {
        let key = self.key(res, ns, name)?;
        match self.etcd.get(&key).await? {
            (Some(kv), _) => self.decode_for(res, &kv),
            (None, _) => Err(Self::not_found(res, name)),
        }
    }

    /// Fill in type, namespace, name, uid, timestamps; run admission-ish checks.
    fn prepare_create(&self, res: &ResourceInfo, ns: Option<&str>, mut obj: Value) -> Result<Value> {
        if !obj.is_object() {
            return Err(ApiError::BadRequest(
                "the object to create must be a JSON object".into(),
            ));
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if meta::resource_version(&obj).is_some() {
            return Err(ApiError::Internal(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        let m = meta::meta_mut(&mut obj);
        if res.namespaced {
            let req_ns = ns.unwrap_or("");
            match m.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != req_ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ))
                }
                _ => {
                    m.insert("namespace".into(), json!(req_ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        let name_empty = m.get("name").and_then(Value::as_str).is_none_or(str::is_empty);
        if name_empty {
            if let Some(g) = m.get("generateName").and_then(Value::as_str).filter(|g| !g.is_empty()) {
                let name = format!("{g}{}", meta::random_suffix());
                m.insert("name".into(), json!(name));
            }
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("selfLink");
        if res.strategy.tracks_generation() {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        res.strategy.prepare_for_create(&mut obj);
        let mut errs = validate_meta(&obj, res.strategy.name_rule(), res.namespaced);
        errs.extend(res.strategy.validate(&obj));
        if !errs.is_empty() {
            return Err(invalid(res, &obj, errs));
        }
        Ok(obj)
    }

    /// NamespaceLifecycle admission: the namespace must exist and not be terminating.
    async fn check_namespace(&self, res: &ResourceInfo, obj: &Value) -> Result<()> {
        if !res.namespaced {
            return Ok(());
        }
        let ns = meta::namespace(obj).unwrap_or("");
        let ns_res = namespaces();
        let key = keys::object_key(ns_res.etcd_prefix, None, ns);
        match self.etcd.get(&key).await? {
            (None, _) => Err(ApiError::NotFound {
                resource: ns_res.group_resource(),
                name: ns.into(),
            }),
            (Some(kv), _) => {
                let nso = self.decode(&kv)?;
                if meta::is_deleting(&nso)
                    || nso.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
                {
                    return Err(ApiError::Forbidden {
                        resource: res.group_resource(),
                        name: meta::name(obj).to_string(),
                        message: format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    pub async fn create(&self, res: &ResourceInfo, ns: Option<&str>, obj: Value, dry_run: bool) -> Result<Value> {
        self.create_owned(res, ns, obj, dry_run, &FieldOwner::Untracked).await
    }

    /// `create`, recording managedFields for `owner`.
    pub async fn create_owned(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        obj: Value,
        dry_run: bool,
        owner: &FieldOwner,
    ) -> Result<Value> {
        let mut obj = self.prepare_create(res, ns, obj)?;
        finish_managed_fields(res, None, &mut obj, owner);
        self.check_namespace(res, &obj).await?;
        let name = meta::name(&obj).to_string();
        let key = self.key(res, meta::namespace(&obj), &name)?;
        if dry_run {
            return Ok(obj);
        }
        let bytes = self.encode(res, &obj)?;
        let lease = self.lease_for(res).await?;
        match self.etcd.create(&key, bytes, lease).await {
            Ok(rev) => {
                meta::set_resource_version(&mut obj, rev);
                Ok(obj)
            }
            Err(StorageError::AlreadyExists(_)) => Err(ApiError::AlreadyExists {
                resource: res.group_resource(),
                name,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// GuaranteedUpdate: `desired(current)` returns the object the client wants.
    pub async fn update<F>(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        dry_run: bool,
        desired: F,
    ) -> Result<Value>
    where
        F: FnMut(&Value) -> Result<Value>,
    {
        self.update_owned(res, ns, name, sub, dry_run, &FieldOwner::Untracked, desired)
            .await
    }

    /// `update`, recording managedFields for `owner`.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_owned<F>(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        dry_run: bool,
        owner: &FieldOwner,
        mut desired: F,
    ) -> Result<Value>
    where
        F: FnMut(&Value) -> Result<Value>,
    {
        let key = self.key(res, ns, name)?;
        loop {
            let (kv, _) = self.etcd.get(&key).await?;
            let kv = kv.ok_or_else(|| Self::not_found(res, name))?;
            let current = self.decode_for(res, &kv)?;
            let wanted = desired(&current)?;
            if let Some(rv) = meta::resource_version(&wanted) {
                if rv != kv.mod_revision.to_string() {
                    return Err(ApiError::Conflict {
                        resource: res.group_resource(),
                        name: name.to_string(),
                        message: OPTIMISTIC_LOCK_MSG.into(),
                    });
                }
            }
            let mut new = merge_update(res, sub, &current, wanted, name)?;
            finish_managed_fields(res, Some(&current), &mut new, owner);
            meta::set_resource_version(&mut new, kv.mod_revision);
            let bytes = self.encode(res, &new)?;
            let old_bytes = self.encode(res, &current)?;
            if bytes == old_bytes || dry_run {
                return Ok(new);
            }
            if ready_to_delete(res, &new) {
                match self.etcd.delete(&key, kv.mod_revision).await? {
                    WriteOutcome::Done(rev) => {
                        meta::set_resource_version(&mut new, rev);
                        return Ok(new);
                    }
                    WriteOutcome::Conflict(_) => continue,
                }
            }
            let lease = self.lease_for(res).await?;
            match self.etcd.update(&key, bytes, kv.mod_revision, lease).await? {
                WriteOutcome::Done(rev) => {
                    meta::set_resource_version(&mut new, rev);
                    return Ok(new);
                }
                WriteOutcome::Conflict(_) => continue,
            }
        }
    }

    /// Delete, or mark for deletion when finalizers or a grace period say so.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value> {
        let key = self.key(res, ns, name)?;
        loop {
            let (kv, _) = self.etcd.get(&key).await?;
            let kv = kv.ok_or_else(|| Self::not_found(res, name))?;
            let mut obj = self.decode_for(res, &kv)?;
            let conflict = |message: String| ApiError::Conflict {
                resource: res.group_resource(),
                name: name.to_string(),
                message,
            };
            if let Some(uid) = &opts.precondition_uid {
                let have = meta::meta_str(&obj, "uid").unwrap_or("");
                if uid != have {
                    return Err(conflict(format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                    )));
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                let have = kv.mod_revision.to_string();
                if *rv != have {
                    return Err(conflict(format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {have}"
                    )));
                }
            }
            if !meta::is_deleting(&obj) {
                res.strategy.before_delete(&mut obj);
            }
            let current: Vec<String> = meta::finalizers(&obj);
            let finalizers = gc_finalizers(&current, opts, res.strategy.default_gc_policy());
            let finalizers_changed = {
                let (mut a, mut b) = (current.clone(), finalizers.clone());
                a.sort();
                b.sort();
                a != b
            };
            let has_finalizers =
                !finalizers.is_empty() || (res.plural == "namespaces" && !spec_finalizers(&obj).is_empty());
            let grace = res.strategy.graceful_delete(&obj, opts.grace_period);
            if has_finalizers || grace.is_some() {
                if meta::is_deleting(&obj) && grace.is_none() && !finalizers_changed {
                    return Ok(obj);
                }
                if finalizers_changed {
                    meta::meta_mut(&mut obj).insert("finalizers".into(), json!(finalizers));
                }
                let now = chrono::Utc::now();
                // Clamp: an absurd gracePeriodSeconds must not overflow the clock.
                let g = grace.unwrap_or(0).clamp(0, 10 * 365 * 24 * 3600);
                let when = (now + chrono::Duration::seconds(g))
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                let m = meta::meta_mut(&mut obj);
                if !m.contains_key("deletionTimestamp") || grace.is_some() {
                    m.insert("deletionTimestamp".into(), json!(when));
                    m.insert("deletionGracePeriodSeconds".into(), json!(g));
                }
                if res.plural == "namespaces" {
                    set_at(&mut obj, "/status/phase", json!("Terminating"));
                }
                if opts.dry_run {
                    return Ok(obj);
                }
                let bytes = self.encode(res, &obj)?;
                let lease = self.lease_for(res).await?;
                match self.etcd.update(&key, bytes, kv.mod_revision, lease).await? {
                    WriteOutcome::Done(rev) => {
                        meta::set_resource_version(&mut obj, rev);
                        return Ok(obj);
                    }
                    WriteOutcome::Conflict(_) => continue,
                }
            }
            if opts.dry_run {
                return Ok(obj);
            }
            match self.etcd.delete(&key, kv.mod_revision).await? {
                WriteOutcome::Done(rev) => {
                    meta::set_resource_version(&mut obj, rev);
                    return Ok(obj);
                }
                WriteOutcome::Conflict(_) => continue,
            }
        }
    }
}

/// The store's one managedFields hook: `new` is finished (defaulted, validated), `live` the
/// stored object (None on create).
fn finish_managed_fields(res: &ResourceInfo, live: Option<&Value>, new: &mut Value, owner: &FieldOwner) {
    let FieldOwner::Update {
        manager,
        subresource,
        before_admission,
    } = owner
    else {
        return;
    };
    let (ty, version, now) = (managed_fields::type_of(res), res.api_version(), meta::now_rfc3339());
    match (live, before_admission) {
        (None, Some(sent)) => {
            let mut basis = sent.clone();
            res.strategy.defaults(&mut basis);
            managed_fields::update(ty, None, &mut basis, manager, *subresource, &version, &now);
            let fields = basis.pointer("/metadata/managedFields").cloned();
            let m = meta::meta_mut(new);
            match fields {
                Some(f) => m.insert("managedFields".into(), f),
                None => m.remove("managedFields"),
            };
        }
        _ => managed_fields::update(ty, live, new, manager, *subresource, &version, &now),
    }
}

/// An object read from the store in its served form (the strategy's version conversion).
pub(crate) fn from_storage(res: &ResourceInfo, obj: &mut Value) {
    res.strategy.on_read(obj);
}

/// The namespaces row of the resource table.
pub fn namespaces() -> &'static ResourceInfo {
    // The table always has namespaces first; fall back to a search.
    RESOURCES
        .iter()
        .find(|r| r.plural == "namespaces" && r.group.is_empty())
        .unwrap_or(&RESOURCES[0])
}

fn spec_finalizers(obj: &Value) -> Vec<Value> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A deleting object whose finalizers are all gone is removed on update.
fn ready_to_delete(res: &ResourceInfo, obj: &Value) -> bool {
    meta::is_deleting(obj)
        && meta::finalizers(obj).is_empty()
        && (res.plural != "namespaces" || spec_finalizers(obj).is_empty())
        && res.strategy.graceful_delete(obj, None).is_none()
}

pub(crate) fn invalid(
    res: &ResourceInfo,
    obj: &Value,
    errors: Vec<crate::registry::validation::FieldError>,
) -> ApiError {
    ApiError::Invalid {
        group: res.group,
        kind: res.kind,
        name: meta::name(obj).to_string(),
        errors,
    }
}

/// Build the object to store from the current one and what the client sent.
fn merge_update(
    res: &ResourceInfo,
    sub: Option<Subresource>,
    current: &Value,
    mut wanted: Value,
    url_name: &str,
) -> Result<Value> {
    if !wanted.is_object() {
        return Err(ApiError::BadRequest(
            "the object to update must be a JSON object".into(),
        ));
    }
    let body_name = meta::name(&wanted);
    if !body_name.is_empty() && body_name != url_name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
        )));
    }
    let mut new = match sub {
        Some(Subresource::Status) => {
            let mut n = current.clone();
            n["status"] = wanted.get("status").cloned().unwrap_or(json!({}));
            let errs = res.strategy.prepare_status_update(&mut n);
            if !errs.is_empty() {
                return Err(invalid(res, &n, errs));
            }
            n
        }
        Some(Subresource::Approval) => {
            let mut n = current.clone();
            let conditions = wanted.pointer("/status/conditions").cloned().unwrap_or(json!([]));
            set_at(&mut n, "/status/conditions", conditions);
            n
        }
        Some(Subresource::Binding) => wanted,
        Some(Subresource::Finalize) => {
            let mut n = current.clone();
            let fins = wanted.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            set_at(&mut n, "/spec/finalizers", fins);
            n
        }
        _ => {
            if res.has(Subresource::Status) {
                match current.get("status") {
                    Some(s) => wanted["status"] = s.clone(),
                    None => {
                        if let Some(m) = wanted.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            wanted["apiVersion"] = json!(res.api_version());
            wanted["kind"] = json!(res.kind);
            wanted
        }
    };
    // System fields come from the stored object.
    let keep = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ];
    let m = meta::meta_mut(&mut new);
    for k in keep {
        match current.pointer(&format!("/metadata/{k}")) {
            Some(v) => m.insert(k.to_string(), v.clone()),
            None => m.remove(k),
        };
    }
    m.remove("selfLink");
    if sub.is_none() {
        res.strategy.prepare_for_update(&mut new, current);
        if res.strategy.tracks_generation() && !same_ignoring_nulls(spec(&new), spec(current)) {
            let g = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        let mut errs = validate_meta(&new, res.strategy.name_rule(), res.namespaced);
        errs.extend(res.strategy.validate_update(&new, current));
        if !errs.is_empty() {
            return Err(invalid(res, &new, errs));
        }
    }
    Ok(new)
}

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

/// Equality as Go sees two JSON values once decoded: an object field that is null is the same
/// as an absent one. A pod template's `creationTimestamp: null` (Go's JSON for a zero
/// metav1.Time, which our defaulting adds) is absent from the same template decoded from
/// protobuf (a stock kube-apiserver's value, or ours with protobuf storage).
fn same_ignoring_nulls(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let set = |m: &serde_json::Map<String, Value>| m.values().filter(|v| !v.is_null()).count();
            set(x) == set(y)
                && x.iter()
                    .filter(|(_, v)| !v.is_null())
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_ignoring_nulls(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_ignoring_nulls(v, w))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fields_are_absent_fields_when_deciding_on_a_new_generation() {
        let stored = json!({"spec": {"replicas": 3, "template": {"metadata": {"labels": {"a": "b"}}}}});
        let defaulted = json!({"spec": {"replicas": 3,
            "template": {"metadata": {"labels": {"a": "b"}, "creationTimestamp": null}}}});
        assert!(same_ignoring_nulls(spec(&defaulted), spec(&stored)));
        assert!(same_ignoring_nulls(spec(&stored), spec(&defaulted)));
        let scaled = json!({"spec": {"replicas": 4, "template": {"metadata": {"labels": {"a": "b"}}}}});
        assert!(!same_ignoring_nulls(spec(&scaled), spec(&stored)));
        let relabelled = json!({"spec": {"replicas": 3, "template": {"metadata": {"labels": {"a": "c"}}}}});
        assert!(!same_ignoring_nulls(spec(&relabelled), spec(&stored)));
        assert!(!same_ignoring_nulls(&json!([1, null]), &json!([1])));
        assert!(same_ignoring_nulls(spec(&json!({})), spec(&json!({"spec": null}))));
    }
}
