//! `pods/binding`: assign a pod to a node (BindingREST.setPodHostAndAnnotations).

use serde_json::{json, Value};

use super::generic::Store;
use super::meta;
use super::resources::find;
use super::strategy::set_at;
use crate::error::{ApiError, Result};

pub async fn bind(store: &Store, ns: &str, pod_name: &str, binding: &Value, dry_run: bool) -> Result<Value> {
    let pods = find("", "v1", "pods").ok_or(ApiError::NoSuchResource)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid {
            group: "",
            kind: "Binding",
            name: pod_name.into(),
            errors: vec![super::validation::FieldError::required("target.name", "")],
        });
    }
    let annotations = binding.pointer("/metadata/annotations").cloned();
    let want_uid = binding
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(String::from);
    store
        .update(
            pods,
            Some(ns),
            pod_name,
            Some(super::resources::Subresource::Binding),
            dry_run,
            |cur| {
                let mut pod = cur.clone();
                if meta::is_deleting(&pod) {
                    return Err(ApiError::Conflict {
                        resource: pods.group_resource(),
                        name: pod_name.into(),
                        message: format!("pod {pod_name} is being deleted, cannot be assigned to a host"),
                    });
                }
                let assigned = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
                if !assigned.is_empty() {
                    return Err(ApiError::Conflict {
                        resource: pods.group_resource(),
                        name: pod_name.into(),
                        message: format!("pod {pod_name} is already assigned to node {assigned:?}"),
                    });
                }
                if let Some(uid) = &want_uid {
                    if meta::meta_str(&pod, "uid") != Some(uid.as_str()) {
                        return Err(ApiError::Conflict {
                            resource: pods.group_resource(),
                            name: pod_name.into(),
                            message: "Precondition failed: UID in precondition does not match".into(),
                        });
                    }
                }
                set_at(&mut pod, "/spec/nodeName", json!(node));
                if let Some(Value::Object(a)) = &annotations {
                    let m = meta::meta_mut(&mut pod);
                    let ann = m.entry("annotations").or_insert_with(|| json!({}));
                    if let Value::Object(am) = ann {
                        for (k, v) in a {
                            am.insert(k.clone(), v.clone());
                        }
                    }
                }
                let cond = json!({"type":"PodScheduled","status":"True","lastProbeTime":null,
                              "lastTransitionTime": meta::now_rfc3339()});
                let conds = pod
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut conds: Vec<Value> = conds
                    .into_iter()
                    .filter(|c| c.get("type") != Some(&json!("PodScheduled")))
                    .collect();
                conds.push(cond);
                set_at(&mut pod, "/status/conditions", json!(conds));
                Ok(pod)
            },
        )
        .await
}
