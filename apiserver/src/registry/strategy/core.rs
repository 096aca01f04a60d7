//! Small core/v1 and coordination.k8s.io strategies: ConfigMap, Secret,
//! ServiceAccount, Endpoints, Event, Node, Lease, LimitRange, and scheduling.k8s.io's
//! PriorityClass (defaults and tables).

use serde_json::{json, Value};

use super::{age, col, default_at, s, Column, Strategy, AGE, NAME};
use crate::registry::meta::name;

fn count(obj: &Value, ptrs: &[&str]) -> usize {
    ptrs.iter()
        .map(|p| obj.pointer(p).and_then(Value::as_object).map_or(0, |m| m.len()))
        .sum()
}

pub struct ComponentStatusStrategy;
impl Strategy for ComponentStatusStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Status", "string", 0),
            col("Message", "string", 0),
            col("Error", "string", 0),
        ]
    }
    /// kube's printComponentStatus: the Healthy condition decides.
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let healthy = obj.get("conditions").and_then(Value::as_array).and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Healthy"))
        });
        let (status, message, error) = match healthy {
            Some(c) => (
                if s(c, "/status") == "True" {
                    "Healthy"
                } else {
                    "Unhealthy"
                },
                s(c, "/message"),
                s(c, "/error"),
            ),
            None => ("Unknown", "", ""),
        };
        vec![json!(name(obj)), json!(status), json!(message), json!(error)]
    }
}

pub struct PriorityClassStrategy;
impl Strategy for PriorityClassStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Value", "integer", 0),
            col("Global-Default", "boolean", 0),
            AGE,
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(name(obj)),
            json!(obj.get("value").and_then(Value::as_i64).unwrap_or(0)),
            json!(obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
            json!(age(obj)),
        ]
    }
}

pub struct LimitRangeStrategy;
impl Strategy for LimitRangeStrategy {
    fn defaults(&self, obj: &mut Value) {
        default_limit_range(obj);
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
    }
}

/// SetDefaults_LimitRangeItem for Container items: default ← max, defaultRequest ← default,
/// then defaultRequest ← min.
pub fn default_limit_range(lr: &mut Value) {
    let Some(limits) = lr.pointer_mut("/spec/limits").and_then(Value::as_array_mut) else {
        return;
    };
    for item in limits.iter_mut().filter(|i| i.is_object()) {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item.get("max").and_then(Value::as_object).cloned().unwrap_or_default();
        let min = item.get("min").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut default = item
            .get("default")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut default_request = item
            .get("defaultRequest")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in max {
            default.entry(k).or_insert(v);
        }
        for (k, v) in &default {
            default_request.entry(k.clone()).or_insert(v.clone());
        }
        for (k, v) in min {
            default_request.entry(k).or_insert(v);
        }
        if !default.is_empty() {
            item["default"] = Value::Object(default);
        }
        if !default_request.is_empty() {
            item["defaultRequest"] = Value::Object(default_request);
        }
    }
}

pub struct ConfigMapStrategy;
impl Strategy for ConfigMapStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Data", "string", 0), AGE]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(name(obj)),
            json!(count(obj, &["/data", "/binaryData"])),
            json!(age(obj)),
        ]
    }
}

pub struct SecretStrategy;
impl Strategy for SecretStrategy {
    fn defaults(&self, obj: &mut Value) {
        default_at(obj, "/type", json!("Opaque"));
        // v1 conversion: stringData is write-only and folded into data (base64).
        use base64::Engine;
        let string_data = obj.as_object_mut().and_then(|m| m.remove("stringData"));
        if let Some(Value::Object(sd)) = string_data {
            for (k, v) in sd {
                let enc = base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or(""));
                super::set_at(obj, &format!("/data/{k}"), json!(enc));
            }
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
    }
    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Type", "string", 0), col("Data", "string", 0), AGE]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(name(obj)),
            json!(s(obj, "/type")),
            json!(count(obj, &["/data"])),
            json!(age(obj)),
        ]
    }
}

pub struct ServiceAccountStrategy;
impl Strategy for ServiceAccountStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Secrets", "string", 0), AGE]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let n = obj.get("secrets").and_then(Value::as_array).map_or(0, Vec::len);
        vec![json!(name(obj)), json!(n), json!(age(obj))]
    }
}

pub struct EndpointsStrategy;
impl Strategy for EndpointsStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Endpoints", "string", 0), AGE]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut eps = Vec::new();
        for sub in obj.get("subsets").and_then(Value::as_array).into_iter().flatten() {
            let ports: Vec<i64> = sub
                .get("ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(|x| x.get("port").and_then(Value::as_i64)).collect())
                .unwrap_or_default();
            for a in sub.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                let ip = s(a, "/ip");
                if ports.is_empty() {
                    eps.push(ip.to_string());
                }
                for p in &ports {
                    eps.push(format!("{ip}:{p}"));
                }
            }
        }
        let text = if eps.is_empty() {
            "<none>".to_string()
        } else {
            eps.join(",")
        };
        vec![json!(name(obj)), json!(text), json!(age(obj))]
    }
}

pub struct EventStrategy;
impl Strategy for EventStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Message", "string", 0),
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let last = [
            s(obj, "/lastTimestamp"),
            s(obj, "/eventTime"),
            s(obj, "/metadata/creationTimestamp"),
        ]
        .into_iter()
        .find(|t| !t.is_empty());
        let object = format!(
            "{}/{}",
            s(obj, "/involvedObject/kind").to_lowercase(),
            s(obj, "/involvedObject/name")
        );
        vec![
            json!(crate::registry::meta::human_age(last)),
            json!(s(obj, "/type")),
            json!(s(obj, "/reason")),
            json!(object),
            json!(s(obj, "/message")),
        ]
    }
}

pub struct NodeStrategy;
impl Strategy for NodeStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Status", "string", 0),
            col("Roles", "string", 0),
            AGE,
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ready = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "Ready"))
            // kube's printer: Ready when True, NotReady otherwise (also Unknown).
            .map(|c| if s(c, "/status") == "True" { "Ready" } else { "NotReady" })
            .unwrap_or("Unknown");
        let mut status = ready.to_string();
        if obj.pointer("/spec/unschedulable") == Some(&json!(true)) {
            status.push_str(",SchedulingDisabled");
        }
        let roles: Vec<String> = crate::registry::meta::labels(obj)
            .keys()
            .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
            .collect();
        let addr = |t: &str| {
            obj.pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| s(x, "/type") == t))
                .map(|x| s(x, "/address").to_string())
                .unwrap_or_else(|| "<none>".into())
        };
        vec![
            json!(name(obj)),
            json!(status),
            json!(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }),
            json!(age(obj)),
            json!(s(obj, "/status/nodeInfo/kubeletVersion")),
            json!(addr("InternalIP")),
            json!(addr("ExternalIP")),
            json!(s(obj, "/status/nodeInfo/osImage")),
            json!(s(obj, "/status/nodeInfo/kernelVersion")),
            json!(s(obj, "/status/nodeInfo/containerRuntimeVersion")),
        ]
    }
}

pub struct LeaseStrategy;
impl Strategy for LeaseStrategy {
    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Holder", "string", 0), AGE]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![json!(name(obj)), json!(s(obj, "/spec/holderIdentity")), json!(age(obj))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_data_folds_into_data() {
        let mut s = json!({"stringData": {"user": "admin"}, "data": {"x": "eA=="}});
        SecretStrategy.prepare_for_create(&mut s);
        assert_eq!(s, json!({"type": "Opaque", "data": {"x": "eA==", "user": "YWRtaW4="}}));
    }
}
