//! Node lifecycle controller: a node whose kubelet stopped renewing its Lease (and posting
//! status) for the grace period gets Ready=Unknown, the `node.kubernetes.io/unreachable`
//! NoSchedule+NoExecute taints (`not-ready` when Ready=False), and its pods are evicted
//! (deleted) unless they tolerate the NoExecute taint (until their tolerationSeconds run out).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::util::{is_deleting, name, namespace, s};
use super::Action;

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// kube-controller-manager's --node-monitor-grace-period.
pub const GRACE_SECONDS: i64 = 40;

fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&Utc))
}

fn ready_condition(node: &Value) -> Option<&Value> {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| s(c, "/type") == "Ready")
}

/// The latest sign of life: Lease renewTime or the Ready condition's heartbeat.
fn last_heartbeat(node: &Value, lease: Option<&Value>) -> Option<DateTime<Utc>> {
    let from_lease = lease.and_then(|l| time(s(l, "/spec/renewTime")));
    let from_status = ready_condition(node).and_then(|c| time(s(c, "/lastHeartbeatTime")));
    from_lease.max(from_status)
}

fn tolerates_forever_or_until(pod: &Value, taint: &Value, now: DateTime<Utc>) -> bool {
    let added = time(s(taint, "/timeAdded")).unwrap_or(now);
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            let op_exists = s(t, "/operator") == "Exists";
            let key_ok = (s(t, "/key").is_empty() && op_exists) || s(t, "/key") == s(taint, "/key");
            let value_ok = op_exists || s(t, "/value") == s(taint, "/value");
            let effect_ok = s(t, "/effect").is_empty() || s(t, "/effect") == "NoExecute";
            let time_ok = match t.get("tolerationSeconds").and_then(Value::as_i64) {
                None => true,
                Some(secs) => now < added + chrono::Duration::seconds(secs.max(0)),
            };
            key_ok && value_ok && effect_ok && time_ok
        })
}

/// Actions for every node given all Leases in kube-node-lease and all pods.
pub fn reconcile(nodes: &[Value], leases: &[Value], pods: &[Value], now: DateTime<Utc>) -> Vec<Action> {
    let mut out = Vec::new();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for node in nodes.iter().filter(|n| !is_deleting(n)) {
        let lease = leases.iter().find(|l| name(l) == name(node));
        let Some(beat) = last_heartbeat(node, lease) else {
            continue;
        };
        let ready = ready_condition(node)
            .map(|c| s(c, "/status").to_string())
            .unwrap_or_default();
        let stale = now - beat > chrono::Duration::seconds(GRACE_SECONDS);
        let mut status = ready.clone();
        if stale && ready != "Unknown" {
            let conds: Vec<Value> = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["status"] = json!("Unknown");
                    c["reason"] = json!("NodeStatusUnknown");
                    c["message"] = json!("Kubelet stopped posting node status.");
                    c["lastTransitionTime"] = json!(stamp);
                    c
                })
                .collect();
            out.push(Action::Patch {
                path: format!("/api/v1/nodes/{}/status", name(node)),
                patch: json!({"status": {"conditions": conds}}),
            });
            status = "Unknown".into();
        }
        let wanted_key = match status.as_str() {
            "Unknown" => Some(UNREACHABLE),
            "False" => Some(NOT_READY),
            _ => None,
        };
        let taints: Vec<Value> = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut new_taints: Vec<Value> = taints
            .iter()
            .filter(|t| {
                let k = s(t, "/key");
                (k != UNREACHABLE && k != NOT_READY) || Some(k) == wanted_key
            })
            .cloned()
            .collect();
        if let Some(k) = wanted_key {
            for effect in ["NoSchedule", "NoExecute"] {
                if !new_taints
                    .iter()
                    .any(|t| s(t, "/key") == k && s(t, "/effect") == effect)
                {
                    new_taints.push(json!({"key": k, "effect": effect, "timeAdded": stamp}));
                }
            }
        }
        if new_taints != taints {
            out.push(Action::Patch {
                path: format!("/api/v1/nodes/{}", name(node)),
                patch: json!({"spec": {"taints": new_taints}}),
            });
        }
        // Evict pods that do not tolerate the node's NoExecute taints.
        let no_execute: Vec<&Value> = new_taints.iter().filter(|t| s(t, "/effect") == "NoExecute").collect();
        if no_execute.is_empty() {
            continue;
        }
        for pod in pods
            .iter()
            .filter(|p| s(p, "/spec/nodeName") == name(node) && !is_deleting(p))
        {
            if no_execute.iter().any(|t| !tolerates_forever_or_until(pod, t, now)) {
                out.push(Action::Event(super::events::evicted(pod)));
                out.push(Action::Delete {
                    path: format!("/api/v1/namespaces/{}/pods/{}", namespace(pod), name(pod)),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(beat: &str, ready: &str, taints: Value) -> Value {
        json!({"metadata":{"name":"n1"},"spec":{"taints":taints},
            "status":{"conditions":[{"type":"Ready","status":ready,"lastHeartbeatTime":beat}]}})
    }

    fn at(t: &str) -> DateTime<Utc> {
        time(t).expect("time")
    }

    #[test]
    fn stale_node_goes_unknown_and_gets_tainted() {
        let n = node("2024-01-01T00:00:00Z", "True", json!([]));
        let lease = json!({"metadata":{"name":"n1"},"spec":{"renewTime":"2024-01-01T00:00:10.000000Z"}});
        assert!(reconcile(
            std::slice::from_ref(&n),
            std::slice::from_ref(&lease),
            &[],
            at("2024-01-01T00:00:45Z")
        )
        .is_empty());
        let acts = reconcile(&[n], &[lease], &[], at("2024-01-01T00:01:00Z"));
        let Action::Patch { patch, .. } = &acts[0] else {
            panic!("status patch")
        };
        assert_eq!(patch["status"]["conditions"][0]["status"], "Unknown");
        let Action::Patch { patch, .. } = &acts[1] else {
            panic!("taint patch")
        };
        let keys: Vec<&str> = patch["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| s(t, "/effect"))
            .collect();
        assert_eq!(keys, vec!["NoSchedule", "NoExecute"]);
    }

    #[test]
    fn eviction_honours_toleration_seconds_and_recovery_untaints() {
        let taints = json!([{"key":UNREACHABLE,"effect":"NoSchedule","timeAdded":"2024-01-01T00:01:00Z"},
                            {"key":UNREACHABLE,"effect":"NoExecute","timeAdded":"2024-01-01T00:01:00Z"}]);
        let n = node("2024-01-01T00:00:00Z", "Unknown", taints);
        let plain = json!({"metadata":{"name":"a","namespace":"d"},"spec":{"nodeName":"n1"}});
        let tolerant = json!({"metadata":{"name":"b","namespace":"d"},"spec":{"nodeName":"n1","tolerations":[
            {"key":UNREACHABLE,"operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}});
        let pods = vec![plain, tolerant];
        let deleted = |now: &str| -> Vec<String> {
            reconcile(std::slice::from_ref(&n), &[], &pods, at(now))
                .into_iter()
                .filter_map(|a| match a {
                    Action::Delete { path } => Some(path),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(deleted("2024-01-01T00:02:00Z"), vec!["/api/v1/namespaces/d/pods/a"]);
        assert_eq!(deleted("2024-01-01T00:06:01Z").len(), 2);
        let healthy = node("2024-01-01T00:10:00Z", "True", n["spec"]["taints"].clone());
        let acts = reconcile(&[healthy], &[], &[], at("2024-01-01T00:10:05Z"));
        assert!(matches!(&acts[..], [Action::Patch { patch, .. }] if patch["spec"]["taints"] == json!([])));
    }
}
