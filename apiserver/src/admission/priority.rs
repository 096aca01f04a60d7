//! Priority admission: a pod's `priorityClassName` (or the cluster's globalDefault class)
//! becomes its `spec.priority` and `spec.preemptionPolicy`; an unknown class is refused.
//! The two system classes are created on start (`ensure_system_classes`).

use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::registry::generic::Store;
use crate::registry::resources::{find, ResourceInfo};

/// scheduling.k8s.io/v1 PriorityClasses kube-apiserver creates on start.
pub const SYSTEM_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

fn classes() -> Option<&'static ResourceInfo> {
    find("scheduling.k8s.io", "v1", "priorityclasses")
}

/// Create the system PriorityClasses when missing.
pub async fn ensure_system_classes(store: &Store) -> Result<()> {
    let Some(res) = classes() else { return Ok(()) };
    for (name, value, description) in SYSTEM_CLASSES {
        let pc = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "description": description,
            "preemptionPolicy": "PreemptLowerPriority"});
        match store.create(res, None, pc, false).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `classes`: every PriorityClass (cached).
pub fn admit(classes: &[Value], pods: &ResourceInfo, pod: &mut Value) -> Result<()> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let class = if name.is_empty() {
        classes
            .iter()
            .find(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .cloned()
    } else {
        match classes.iter().find(|c| crate::registry::meta::name(c) == name) {
            Some(c) => Some(c.clone()),
            None => {
                return Err(super::forbidden(
                    pods,
                    pod,
                    format!("no PriorityClass with name {name} was found"),
                ))
            }
        }
    };
    let (value, policy) = match &class {
        Some(c) => (
            c.get("value").and_then(Value::as_i64).unwrap_or(0),
            c.get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
        ),
        None => (0, "PreemptLowerPriority".to_string()),
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        if given != value {
            return Err(super::forbidden(
                pods,
                pod,
                format!(
                    "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
                ),
            ));
        }
    }
    if let Some(c) = &class {
        if name.is_empty() {
            pod["spec"]["priorityClassName"] = json!(crate::registry::meta::name(c));
        }
    }
    pod["spec"]["priority"] = json!(value);
    if pod.pointer("/spec/preemptionPolicy").is_none_or(Value::is_null) {
        pod["spec"]["preemptionPolicy"] = json!(policy);
    }
    Ok(())
}
