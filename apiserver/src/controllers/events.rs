//! The events kube's controllers record, with their reasons, messages and source components:
//! pods, jobs and replica sets created (or not) for their controller, pods deleted, replica
//! sets scaled, jobs completed, pods evicted from tainted nodes.

use serde_json::Value;

use super::util::{event, name, namespace};
use crate::client::ClientError;

/// (source component, kind, apiVersion) of a controller owner kind.
fn controller_of(owner_kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match owner_kind {
        "ReplicaSet" => ("replicaset-controller", "ReplicaSet", "apps/v1"),
        "DaemonSet" => ("daemonset-controller", "DaemonSet", "apps/v1"),
        "StatefulSet" => ("statefulset-controller", "StatefulSet", "apps/v1"),
        "Job" => ("job-controller", "Job", "batch/v1"),
        "CronJob" => ("cronjob-controller", "CronJob", "batch/v1beta1"),
        _ => return None,
    })
}

/// The controller ownerReference of `obj` as a minimal owner object (name, namespace, uid).
fn owner(obj: &Value) -> Option<(String, Value)> {
    let r = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    let kind = r.get("kind").and_then(Value::as_str)?.to_string();
    let o = serde_json::json!({"metadata": {
        "name": r.get("name").cloned().unwrap_or(Value::Null),
        "namespace": namespace(obj),
        "uid": r.get("uid").cloned().unwrap_or(Value::Null),
    }});
    Some((kind, o))
}

/// SuccessfulCreate / FailedCreate for an object a controller created for its owner.
pub fn on_create(sent: &Value, result: &Result<Value, ClientError>) -> Option<Value> {
    let (kind, owner) = owner(sent)?;
    let (component, okind, api) = controller_of(&kind)?;
    let what = sent.get("kind").and_then(Value::as_str).unwrap_or("").to_lowercase();
    match result {
        Ok(created) => {
            let msg = match okind {
                "StatefulSet" => format!(
                    "create Pod {} in StatefulSet {} successful",
                    name(created),
                    name(&owner)
                ),
                "CronJob" => format!("Created job {}", name(created)),
                _ => format!("Created {what}: {}", name(created)),
            };
            Some(event(&owner, okind, api, "Normal", "SuccessfulCreate", &msg, component))
        }
        Err(e) if e.code == 409 || e.code == 0 => None,
        Err(e) => {
            let msg = match okind {
                "StatefulSet" => format!(
                    "create Pod {} in StatefulSet {} failed error: {}",
                    name(sent),
                    name(&owner),
                    e.message
                ),
                "CronJob" => format!("Error creating job: {}", e.message),
                _ => format!("Error creating: {}", e.message),
            };
            Some(event(&owner, okind, api, "Warning", "FailedCreate", &msg, component))
        }
    }
}

/// SuccessfulDelete of a pod by its ReplicaSet/DaemonSet/Job controller.
pub fn pod_deleted(owner: &Value, owner_kind: &str, pod: &Value) -> Option<Value> {
    let (component, okind, api) = controller_of(owner_kind)?;
    let msg = match okind {
        "StatefulSet" => format!("delete Pod {} in StatefulSet {} successful", name(pod), name(owner)),
        _ => format!("Deleted pod: {}", name(pod)),
    };
    Some(event(owner, okind, api, "Normal", "SuccessfulDelete", &msg, component))
}

/// ScalingReplicaSet on a Deployment.
pub fn scaled(deployment: &Value, rs_name: &str, from: i64, to: i64) -> Option<Value> {
    let dir = match to.cmp(&from) {
        std::cmp::Ordering::Greater => "up",
        std::cmp::Ordering::Less => "down",
        std::cmp::Ordering::Equal => return None,
    };
    Some(event(
        deployment,
        "Deployment",
        "apps/v1",
        "Normal",
        "ScalingReplicaSet",
        &format!("Scaled {dir} replica set {rs_name} to {to}"),
        "deployment-controller",
    ))
}

/// TaintManagerEviction on a pod the node lifecycle controller deletes.
pub fn evicted(pod: &Value) -> Value {
    event(
        pod,
        "Pod",
        "v1",
        "Normal",
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {}/{}", namespace(pod), name(pod)),
        "taint-controller",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_and_failed_creates_are_recorded_on_the_owner() {
        let pod = json!({"kind":"Pod","metadata":{"generateName":"web-","namespace":"d",
            "ownerReferences":[{"kind":"ReplicaSet","name":"web","uid":"u1","controller":true}]}});
        let created = json!({"kind":"Pod","metadata":{"name":"web-x1","namespace":"d"}});
        let ev = on_create(&pod, &Ok(created)).expect("event");
        assert_eq!(ev["reason"], "SuccessfulCreate");
        assert_eq!(ev["message"], "Created pod: web-x1");
        assert_eq!(ev["involvedObject"]["kind"], "ReplicaSet");
        assert_eq!(ev["involvedObject"]["uid"], "u1");
        assert_eq!(ev["source"]["component"], "replicaset-controller");
        let err = ClientError {
            code: 403,
            message: "pods \"web-\" is forbidden: exceeded quota: q".into(),
        };
        let ev = on_create(&pod, &Err(err)).expect("event");
        assert_eq!(ev["type"], "Warning");
        assert_eq!(
            ev["message"],
            "Error creating: pods \"web-\" is forbidden: exceeded quota: q"
        );
        let conflict = ClientError {
            code: 409,
            message: String::new(),
        };
        assert!(on_create(&pod, &Err(conflict)).is_none());
        assert!(
            on_create(&json!({"kind":"Pod","metadata":{}}), &Ok(json!({}))).is_none(),
            "no owner"
        );
        let d = json!({"metadata":{"name":"web","namespace":"d","uid":"du"}});
        assert_eq!(
            scaled(&d, "web-abc", 3, 1).expect("down")["message"],
            "Scaled down replica set web-abc to 1"
        );
        assert!(scaled(&d, "web-abc", 2, 2).is_none());
    }
}
