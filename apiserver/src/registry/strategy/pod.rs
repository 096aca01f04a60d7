//! core/v1 Pod: defaulting (SetDefaults_PodSpec/Container), validation of
//! required fields, status cleared on create, graceful deletion of bound
//! pods, and the NAME/READY/STATUS/RESTARTS/AGE table.

use serde_json::{json, Value};

use super::{age, col, default_at, n, s, Column, Strategy, AGE, NAME};
use crate::registry::validation::{dns1123_label, FieldError};

pub struct PodStrategy;

/// Pod spec defaults, shared with workload templates.
pub fn default_pod_spec(spec: &mut Value) {
    default_at(spec, "/restartPolicy", json!("Always"));
    default_at(spec, "/dnsPolicy", json!("ClusterFirst"));
    default_at(spec, "/terminationGracePeriodSeconds", json!(30));
    default_at(spec, "/schedulerName", json!("default-scheduler"));
    default_at(spec, "/securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut() {
                default_container(c);
            }
        }
    }
}

/// core/v1 defaulting: a container that states a limit but no request for a resource
/// requests its limit.
pub fn default_requests_from_limits(c: &mut Value) {
    let Some(limits) = c.pointer("/resources/limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    if !c["resources"]["requests"].is_object() {
        c["resources"]["requests"] = json!({});
    }
    if let Some(req) = c["resources"]["requests"].as_object_mut() {
        for (k, v) in limits {
            req.entry(k).or_insert(v);
        }
    }
}

fn default_container(c: &mut Value) {
    default_at(c, "/terminationMessagePath", json!("/dev/termination-log"));
    default_at(c, "/terminationMessagePolicy", json!("File"));
    default_at(c, "/resources", json!({}));
    default_requests_from_limits(c);
    let image = s(c, "/image").to_string();
    let tag = image.rsplit('/').next().unwrap_or("");
    let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
    default_at(
        c,
        "/imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut() {
            default_at(p, "/protocol", json!("TCP"));
        }
    }
}

/// Required fields of a pod spec at `path` (e.g. "spec" or "spec.template.spec").
pub fn validate_pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match spec.get("containers").and_then(Value::as_array) {
        None => errs.push(FieldError::required(&format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => errs.push(FieldError::required(&format!("{path}.containers"), "")),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                let name = s(c, "/name");
                let at = format!("{path}.containers[{i}]");
                if name.is_empty() {
                    errs.push(FieldError::required(&format!("{at}.name"), ""));
                } else {
                    for m in dns1123_label(name) {
                        errs.push(FieldError::invalid(&format!("{at}.name"), json!(name), &m));
                    }
                }
                if s(c, "/image").is_empty() {
                    errs.push(FieldError::required(&format!("{at}.image"), ""));
                }
            }
        }
    }
    let rp = s(spec, "/restartPolicy");
    if !rp.is_empty() && !["Always", "OnFailure", "Never"].contains(&rp) {
        errs.push(FieldError::not_supported(
            &format!("{path}.restartPolicy"),
            json!(rp),
            &["Always", "OnFailure", "Never"],
        ));
    }
    errs
}

fn qos_class(spec: &Value) -> &'static str {
    let cs = spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |c: &Value, k: &str| {
        c.pointer(&format!("/resources/{k}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if cs.iter().all(|c| !has(c, "requests") && !has(c, "limits")) {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        let l = c.pointer("/resources/limits");
        let r = c.pointer("/resources/requests");
        l.and_then(|l| l.get("cpu")).is_some()
            && l.and_then(|l| l.get("memory")).is_some()
            && r.is_none_or(|r| r.get("cpu").is_none_or(|x| Some(x) == l.and_then(|l| l.get("cpu"))))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

impl Strategy for PodStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    fn defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec") {
            default_pod_spec(spec);
            // SetDefaults_Pod (not templates).
            default_at(spec, "/enableServiceLinks", json!(true));
            // v1's `serviceAccount` is an alias of `serviceAccountName` (set by ServiceAccount
            // admission; `priority` by Priority admission).
            let sa = s(spec, "/serviceAccountName").to_string();
            if !sa.is_empty() {
                default_at(spec, "/serviceAccount", json!(sa));
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        // Only images (and a few fields) may change; approximate: container names/count fixed.
        let names = |v: &Value| -> Vec<String> {
            v.pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|c| s(c, "/name").to_string()).collect())
                .unwrap_or_default()
        };
        if names(new) != names(old) {
            errs.push(FieldError::forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ));
        }
        errs
    }

    fn graceful_delete(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let phase = s(obj, "/status/phase");
        if s(obj, "/spec/nodeName").is_empty() || phase == "Succeeded" || phase == "Failed" {
            return None;
        }
        let grace = requested.unwrap_or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        (grace > 0).then_some(grace)
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            AGE,
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ]
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let total = obj
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let statuses = obj
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let ready = statuses.iter().filter(|c| c.get("ready") == Some(&json!(true))).count();
        let restarts: i64 = statuses.iter().map(|c| n(c, "/restartCount")).sum();
        let mut reason = s(obj, "/status/reason").to_string();
        if reason.is_empty() {
            reason = s(obj, "/status/phase").to_string();
        }
        for c in &statuses {
            let w = s(c, "/state/waiting/reason");
            let t = s(c, "/state/terminated/reason");
            if !w.is_empty() {
                reason = w.to_string();
            } else if !t.is_empty() {
                reason = t.to_string();
            }
        }
        if crate::registry::meta::is_deleting(obj) && reason != "NodeLost" {
            reason = "Terminating".into();
        }
        let or_none = |v: &str| {
            if v.is_empty() {
                "<none>".to_string()
            } else {
                v.to_string()
            }
        };
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts.to_string()),
            json!(age(obj)),
            json!(or_none(s(obj, "/status/podIP"))),
            json!(or_none(s(obj, "/spec/nodeName"))),
            json!(or_none(s(obj, "/status/nominatedNodeName"))),
            json!("<none>"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_defaults_and_status() {
        let mut p = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}});
        PodStrategy.prepare_for_create(&mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(p["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        assert!(PodStrategy.validate(&p).is_empty());
    }

    #[test]
    fn pod_requires_containers() {
        let errs = PodStrategy.validate(&json!({"spec":{}}));
        assert_eq!(errs[0].to_string(), "spec.containers: Required value");
        let errs = PodStrategy.validate(&json!({"spec":{"containers":[{"name":"c"}]}}));
        assert_eq!(errs[0].to_string(), "spec.containers[0].image: Required value");
    }
}
