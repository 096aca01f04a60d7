//! core/v1 Service: type/sessionAffinity/port defaults, clusterIPs/ipFamilies defaults (the
//! ClusterIP itself comes from `registry::service_ranges`), and its table.

use serde_json::{json, Value};

use super::{age, col, default_at, n, s, Column, Strategy, AGE, NAME};
use crate::registry::validation::{FieldError, NameRule};

pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
        let ty = s(obj, "/spec/type").to_string();
        // A requested clusterIP is also clusterIPs[0] (kube-proxy reads clusterIPs by family).
        let ip = s(obj, "/spec/clusterIP").to_string();
        if ty != "ExternalName" && !ip.is_empty() && ip != "None" {
            default_at(obj, "/spec/clusterIPs", json!([ip]));
        } else if ip == "None" {
            default_at(obj, "/spec/clusterIPs", json!(["None"]));
        }
        if ty != "ExternalName" {
            default_at(obj, "/spec/ipFamilies", json!(["IPv4"]));
            default_at(obj, "/spec/ipFamilyPolicy", json!("SingleStack"));
            default_at(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
        }
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn defaults(&self, obj: &mut Value) {
        default_at(obj, "/spec/type", json!("ClusterIP"));
        default_at(obj, "/spec/sessionAffinity", json!("None"));
        if let Some(Value::Array(ports)) = obj.pointer_mut("/spec/ports") {
            for p in ports.iter_mut() {
                default_at(p, "/protocol", json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    default_at(p, "/targetPort", port);
                }
            }
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.defaults(new);
        for f in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
        ] {
            if let Some(v) = old.pointer(&format!("/spec/{f}")) {
                default_at(new, &format!("/spec/{f}"), v.clone());
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let ty = s(obj, "/spec/type");
        let supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
        if !supported.contains(&ty) {
            errs.push(FieldError::not_supported("spec.type", json!(ty), &supported));
        }
        let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
        if ty != "ExternalName" && ports.is_none_or(|p| p.is_empty()) && s(obj, "/spec/clusterIP") != "None" {
            errs.push(FieldError::required("spec.ports", ""));
        }
        for (i, p) in ports.into_iter().flatten().enumerate() {
            let port = n(p, "/port");
            if !(1..=65535).contains(&port) {
                errs.push(FieldError::invalid(
                    &format!("spec.ports[{i}].port"),
                    json!(port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            AGE,
            col("Selector", "string", 1),
        ]
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ports: Vec<String> = obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let np = n(p, "/nodePort");
                        if np > 0 {
                            format!("{}:{}/{}", n(p, "/port"), np, s(p, "/protocol"))
                        } else {
                            format!("{}/{}", n(p, "/port"), s(p, "/protocol"))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let selector: Vec<String> = obj
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        let ext = obj
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|i| s(i, "/ip").to_string()).collect::<Vec<_>>().join(","))
            .filter(|x| !x.is_empty())
            .unwrap_or_else(|| {
                if s(obj, "/spec/type") == "LoadBalancer" {
                    "<pending>".into()
                } else {
                    "<none>".into()
                }
            });
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(s(obj, "/spec/type")),
            json!(if s(obj, "/spec/clusterIP").is_empty() {
                "<none>"
            } else {
                s(obj, "/spec/clusterIP")
            }),
            json!(ext),
            json!(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            }),
            json!(age(obj)),
            json!(if selector.is_empty() {
                "<none>".to_string()
            } else {
                selector.join(",")
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_cluster_ip_fills_cluster_ips() {
        let mut svc = json!({"metadata":{"name":"kubernetes"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":443}]}});
        ServiceStrategy.prepare_for_create(&mut svc);
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.1"]));
        let mut headless = json!({"metadata":{"name":"h"},"spec":{"clusterIP":"None","ports":[{"port":80}]}});
        ServiceStrategy.prepare_for_create(&mut headless);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }
}
