//! apps/v1 Deployment, ReplicaSet, DaemonSet, StatefulSet: spec defaults,
//! pod-template defaults, selector/template validation, generation, tables.

use serde_json::{json, Value};

use super::pod::{default_pod_spec, validate_pod_spec};
use super::{age, col, default_at, n, Column, Strategy, AGE, NAME};
use crate::registry::validation::FieldError;

fn template_defaults(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
    default_at(obj, "/spec/template/metadata/creationTimestamp", Value::Null);
}

/// selector required and matching the template labels; template pod spec valid.
fn validate_workload(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sel = obj.pointer("/spec/selector");
    if sel.is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty())) {
        errs.push(FieldError::required("spec.selector", ""));
    } else if let Some(ml) = obj.pointer("/spec/selector/matchLabels").and_then(Value::as_object) {
        let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
        let ok = ml.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !ok {
            let shown = labels.map(|l| {
                let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("map[string]string{{{}}}", parts.join(", "))
            });
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                json!(shown.unwrap_or_else(|| "map[string]string(nil)".into())),
                "`selector` does not match template `labels`",
            ));
        }
    }
    match obj.pointer("/spec/template/spec") {
        Some(spec) => errs.extend(validate_pod_spec(spec, "spec.template.spec")),
        None => errs.push(FieldError::required("spec.template.spec.containers", "")),
    }
    errs
}

pub(super) fn containers_images(obj: &Value) -> (String, String) {
    let cs = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (names.join(","), images.join(","))
}

pub(super) fn selector_text(obj: &Value) -> String {
    obj.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

macro_rules! workload {
    ($name:ident, $defaults:expr, $columns:expr, $cells:expr) => {
        pub struct $name;
        impl Strategy for $name {
            fn prepare_for_create(&self, obj: &mut Value) {
                self.defaults(obj);
                obj["status"] = json!({});
            }
            fn defaults(&self, obj: &mut Value) {
                #[allow(clippy::redundant_closure_call)]
                ($defaults)(&mut *obj);
                template_defaults(obj);
            }
            fn validate(&self, obj: &Value) -> Vec<FieldError> {
                validate_workload(obj)
            }
            fn tracks_generation(&self) -> bool {
                true
            }
            fn columns(&self) -> Vec<Column> {
                $columns
            }
            fn cells(&self, obj: &Value) -> Vec<Value> {
                #[allow(clippy::redundant_closure_call)]
                ($cells)(obj)
            }
        }
    };
}

workload!(
    DeploymentStrategy,
    |obj: &mut Value| {
        default_at(obj, "/spec/replicas", json!(1));
        default_at(obj, "/spec/strategy/type", json!("RollingUpdate"));
        if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_at(obj, "/spec/strategy/rollingUpdate/maxUnavailable", json!("25%"));
            default_at(obj, "/spec/strategy/rollingUpdate/maxSurge", json!("25%"));
        }
        default_at(obj, "/spec/revisionHistoryLimit", json!(10));
        default_at(obj, "/spec/progressDeadlineSeconds", json!(600));
    },
    vec![
        NAME,
        col("Ready", "string", 0),
        col("Up-to-date", "integer", 0),
        col("Available", "integer", 0),
        AGE,
        col("Containers", "string", 1),
        col("Images", "string", 1),
        col("Selector", "string", 1),
    ],
    |obj: &Value| {
        let (c, i) = containers_images(obj);
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            json!(n(obj, "/status/updatedReplicas")),
            json!(n(obj, "/status/availableReplicas")),
            json!(age(obj)),
            json!(c),
            json!(i),
            json!(selector_text(obj)),
        ]
    }
);

workload!(
    ReplicaSetStrategy,
    |obj: &mut Value| {
        default_at(obj, "/spec/replicas", json!(1));
    },
    vec![
        NAME,
        col("Desired", "integer", 0),
        col("Current", "integer", 0),
        col("Ready", "integer", 0),
        AGE,
        col("Containers", "string", 1),
        col("Images", "string", 1),
        col("Selector", "string", 1),
    ],
    |obj: &Value| {
        let (c, i) = containers_images(obj);
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(n(obj, "/spec/replicas")),
            json!(n(obj, "/status/replicas")),
            json!(n(obj, "/status/readyReplicas")),
            json!(age(obj)),
            json!(c),
            json!(i),
            json!(selector_text(obj)),
        ]
    }
);

workload!(
    DaemonSetStrategy,
    |obj: &mut Value| {
        default_at(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
        if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_at(obj, "/spec/updateStrategy/rollingUpdate/maxUnavailable", json!(1));
            default_at(obj, "/spec/updateStrategy/rollingUpdate/maxSurge", json!(0));
        }
        default_at(obj, "/spec/revisionHistoryLimit", json!(10));
    },
    vec![
        NAME,
        col("Desired", "integer", 0),
        col("Current", "integer", 0),
        col("Ready", "integer", 0),
        col("Up-to-date", "integer", 0),
        col("Available", "integer", 0),
        col("Node Selector", "string", 0),
        AGE,
    ],
    |obj: &Value| {
        let ns = obj
            .pointer("/spec/template/spec/nodeSelector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into());
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(n(obj, "/status/desiredNumberScheduled")),
            json!(n(obj, "/status/currentNumberScheduled")),
            json!(n(obj, "/status/numberReady")),
            json!(n(obj, "/status/updatedNumberScheduled")),
            json!(n(obj, "/status/numberAvailable")),
            json!(ns),
            json!(age(obj)),
        ]
    }
);

workload!(
    StatefulSetStrategy,
    |obj: &mut Value| {
        default_at(obj, "/spec/replicas", json!(1));
        default_at(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
        default_at(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
        if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_at(obj, "/spec/updateStrategy/rollingUpdate/partition", json!(0));
        }
        default_at(obj, "/spec/revisionHistoryLimit", json!(10));
    },
    vec![NAME, col("Ready", "string", 0), AGE],
    |obj: &Value| {
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            json!(age(obj)),
        ]
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_and_selector_check() {
        let mut d = json!({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"a"}},
            "template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}});
        DeploymentStrategy.prepare_for_create(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(DeploymentStrategy.validate(&d).is_empty());
        d["spec"]["template"]["metadata"]["labels"]["app"] = json!("b");
        let errs = DeploymentStrategy.validate(&d);
        assert!(errs[0]
            .to_string()
            .contains("`selector` does not match template `labels`"));
    }
}
