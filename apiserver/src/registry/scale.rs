//! The `scale` subresource (autoscaling/v1 Scale) of deployments,
//! replicasets and statefulsets (a view of spec.replicas) and of custom
//! resources (a view of the CRD's specReplicasPath/statusReplicasPath/labelSelectorPath).

use serde_json::{json, Value};

use super::meta;
use super::resources::ResourceInfo;

/// A CRD's `subresources.scale`, as JSON pointers (`.spec.replicas` → `/spec/replicas`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

impl ScalePaths {
    /// From the CRD's dotted paths; None if one is not a simple `.a.b` path.
    pub fn from_crd(scale: &Value) -> Option<ScalePaths> {
        let ptr = |p: &str| -> Option<String> {
            let rest = p.strip_prefix('.')?;
            (!rest.is_empty() && !rest.contains(['[', ']'])).then(|| format!("/{}", rest.replace('.', "/")))
        };
        Some(ScalePaths {
            spec_replicas: ptr(scale.get("specReplicasPath")?.as_str()?)?,
            status_replicas: ptr(scale.get("statusReplicasPath")?.as_str()?)?,
            label_selector: scale.get("labelSelectorPath").and_then(Value::as_str).and_then(ptr),
        })
    }
}

/// The Scale view of a workload or custom resource.
pub fn to_scale(res: &ResourceInfo, obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let pick = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    let metadata = json!({
        "name": pick("name"), "namespace": pick("namespace"), "uid": pick("uid"),
        "resourceVersion": pick("resourceVersion"), "creationTimestamp": pick("creationTimestamp"),
    });
    if let Some(p) = res.strategy.scale_paths() {
        let int = |ptr: &str| obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0);
        let mut status = json!({"replicas": int(&p.status_replicas)});
        if let Some(sel) = p
            .label_selector
            .as_deref()
            .and_then(|l| obj.pointer(l))
            .and_then(Value::as_str)
        {
            status["selector"] = json!(sel);
        }
        return json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": metadata,
            "spec": {"replicas": int(&p.spec_replicas)},
            "status": status,
        });
    }
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// Write the desired replicas of `scale` into `obj` (a copy of the current object).
pub fn apply_scale(res: &ResourceInfo, obj: &mut Value, scale: &Value) -> Result<(), crate::error::ApiError> {
    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas < 0 {
        return Err(crate::error::ApiError::Invalid {
            group: "autoscaling",
            kind: "Scale",
            name: meta::name(obj).to_string(),
            errors: vec![super::validation::FieldError::invalid(
                "spec.replicas",
                json!(replicas),
                "must be greater than or equal to 0",
            )],
        });
    }
    let path = res
        .strategy
        .scale_paths()
        .map_or("/spec/replicas", |p| p.spec_replicas.as_str());
    super::strategy::set_at(obj, path, json!(replicas));
    Ok(())
}
