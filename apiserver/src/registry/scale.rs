//! The `scale` subresource (autoscaling/v1 Scale) of deployments,
//! replicasets and statefulsets: a view of spec.replicas.

use serde_json::{json, Value};

use super::meta;
use super::resources::ResourceInfo;

/// The Scale view of a workload.
pub fn to_scale(obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
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
    let pick = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"), "namespace": pick("namespace"), "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"), "creationTimestamp": pick("creationTimestamp"),
        },
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
    let _ = res;
    super::strategy::set_at(obj, "/spec/replicas", json!(replicas));
    Ok(())
}
