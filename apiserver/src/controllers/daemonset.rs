//! DaemonSet controller: one pod on every node that should run it (node selector and
//! affinity match, taints tolerated; Kubernetes adds the DaemonSet tolerations), bound to
//! its node through a `metadata.name` node-affinity term so the scheduler places it, as
//! Kubernetes 1.20 does; pods on nodes that no longer qualify, extra and failed pods are
//! deleted; RollingUpdate replaces out-of-date pods one `maxUnavailable` batch at a time.

use serde_json::{json, Value};

use super::replicaset::pod_from_template;
use super::util::{controller_uid, i, is_deleting, name, namespace, pod_is_ready, s, uid};
use super::Action;
use crate::scheduler::algorithm::{matches_node_selector, tolerates};

/// Label carrying the DaemonSet generation a pod was made from.
const GENERATION_LABEL: &str = "pod-template-generation";

/// The tolerations every DaemonSet pod gets (daemon pods keep running through node trouble).
fn daemon_tolerations() -> Vec<Value> {
    let mut t = vec![
        json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}),
        json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}),
    ];
    for key in [
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    ] {
        t.push(json!({"key": key, "operator": "Exists", "effect": "NoSchedule"}));
    }
    t
}

/// The pod the DaemonSet runs on `node` (not yet bound: the affinity term pins it).
fn daemon_pod(ds: &Value, node: &str) -> Value {
    let mut pod = pod_from_template(ds, "apps/v1", "DaemonSet");
    pod["metadata"]["labels"][GENERATION_LABEL] = json!(i(ds, "/metadata/generation", 1).to_string());
    let spec = &mut pod["spec"];
    let mut tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in daemon_tolerations() {
        if !tolerations
            .iter()
            .any(|have| have["key"] == t["key"] && have["effect"] == t["effect"])
        {
            tolerations.push(t);
        }
    }
    spec["tolerations"] = json!(tolerations);
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    pod
}

/// The node a daemon pod runs on or is pinned to.
fn pod_node(pod: &Value) -> String {
    let bound = s(pod, "/spec/nodeName");
    if !bound.is_empty() {
        return bound.to_string();
    }
    pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Whether `ds` should run on `node`: its selector and affinity match and every
/// NoSchedule/NoExecute taint is tolerated.
fn should_run(ds: &Value, node: &Value) -> bool {
    let pod = daemon_pod(ds, name(node));
    let template_only = {
        // Judge the template's own constraints, not the pinning term added above.
        let mut p = pod.clone();
        p["spec"]["affinity"] = ds
            .pointer("/spec/template/spec/affinity")
            .cloned()
            .unwrap_or(Value::Null);
        p
    };
    if !matches_node_selector(&template_only, node) {
        return false;
    }
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| matches!(s(t, "/effect"), "NoSchedule" | "NoExecute"))
        .all(|t| tolerates(&pod, t))
}

/// Actions for one DaemonSet given all nodes and pods.
pub fn reconcile(ds: &Value, nodes: &[Value], pods: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(ds) {
        return out;
    }
    let ns = namespace(ds);
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");
    let generation = i(ds, "/metadata/generation", 1).to_string();
    let owned: Vec<&Value> = pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid(ds)) && !is_deleting(p))
        .collect();
    let delete = |out: &mut Vec<Action>, p: &Value| {
        out.push(Action::Delete {
            path: format!("{pods_path}/{}", name(p)),
        })
    };
    let (mut desired, mut current, mut ready, mut updated, mut misscheduled) = (0, 0, 0, 0, 0);
    let mut outdated_ready: Vec<&Value> = Vec::new();
    let mut unavailable = 0;
    for node in nodes {
        let here: Vec<&Value> = owned.iter().copied().filter(|p| pod_node(p) == name(node)).collect();
        let wanted = should_run(ds, node);
        if !wanted {
            misscheduled += here.iter().filter(|p| !s(p, "/spec/nodeName").is_empty()).count();
            for p in here {
                delete(&mut out, p);
            }
            continue;
        }
        desired += 1;
        let (failed, live): (Vec<&Value>, Vec<&Value>) =
            here.into_iter().partition(|p| s(p, "/status/phase") == "Failed");
        for p in failed {
            delete(&mut out, p);
        }
        match live.split_first() {
            None => {
                out.push(Action::Create {
                    path: pods_path.clone(),
                    obj: daemon_pod(ds, name(node)),
                });
                unavailable += 1;
            }
            Some((first, extra)) => {
                for p in extra {
                    delete(&mut out, p);
                }
                current += 1;
                let is_ready = pod_is_ready(first);
                ready += usize::from(is_ready);
                if !is_ready {
                    unavailable += 1;
                }
                if s(first, &format!("/metadata/labels/{GENERATION_LABEL}")) == generation {
                    updated += 1;
                } else if is_ready {
                    outdated_ready.push(first);
                }
            }
        }
    }
    // Nodes that are gone: their pods go too.
    for p in &owned {
        let node = pod_node(p);
        if !node.is_empty() && !nodes.iter().any(|n| name(n) == node) {
            delete(&mut out, p);
        }
    }
    if s(ds, "/spec/updateStrategy/type") != "OnDelete" {
        let max_unavailable = ds
            .pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1) as usize;
        for p in outdated_ready
            .into_iter()
            .take(max_unavailable.saturating_sub(unavailable))
        {
            delete(&mut out, p);
        }
    }
    let status = json!({
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": updated,
        "observedGeneration": i(ds, "/metadata/generation", 1),
    });
    let cur = ds.get("status").cloned().unwrap_or_else(|| json!({}));
    let differs = status
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| cur.get(k).and_then(Value::as_i64).unwrap_or(0) != v.as_i64().unwrap_or(0));
    if differs {
        out.push(Action::Patch {
            path: format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{}/status", name(ds)),
            patch: json!({"status": status}),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deleted_names;

    fn ds(generation: i64) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "kube-system", "uid": "d1", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                    "spec": {"nodeSelector": {"role": "worker"}, "containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn node(n: &str, role: &str, taint: Option<&str>) -> Value {
        let mut v = json!({"metadata": {"name": n, "labels": {"role": role}}, "spec": {}});
        if let Some(effect) = taint {
            v["spec"]["taints"] = json!([{"key": "dedicated", "value": "db", "effect": effect}]);
        }
        v
    }

    fn pod(n: &str, node: &str, generation: &str, ready: bool) -> Value {
        json!({"metadata": {"name": n, "namespace": "kube-system", "labels": {"app": "agent", GENERATION_LABEL: generation},
            "ownerReferences": [{"uid": "d1", "controller": true, "kind": "DaemonSet", "name": "agent"}]},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn creates(a: &[Action]) -> Vec<String> {
        a.iter()
            .filter_map(|a| match a {
                Action::Create { obj, .. } => Some(pod_node(obj)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_pod_per_qualifying_node_with_daemon_tolerations() {
        let nodes = [
            node("w1", "worker", None),
            node("w2", "worker", Some("NoSchedule")),
            node("m1", "master", None),
            node("w3", "worker", None),
        ];
        let a = reconcile(&ds(1), &nodes, &[pod("p3", "w3", "1", true)]);
        assert_eq!(
            creates(&a),
            vec!["w1"],
            "not the tainted, mislabeled or already served node"
        );
        let Some(Action::Create { obj, .. }) = a.iter().find(|a| matches!(a, Action::Create { .. })) else {
            panic!("create")
        };
        assert_eq!(obj["metadata"]["labels"][GENERATION_LABEL], "1");
        assert!(obj["spec"]["tolerations"].as_array().is_some_and(|t| t.len() == 6));
        assert!(obj["spec"]["nodeName"].is_null(), "the scheduler binds it");
    }

    #[test]
    fn misplaced_extra_and_failed_pods_go_and_updates_roll_one_at_a_time() {
        let nodes = [node("w1", "worker", None), node("m1", "master", None)];
        let mut failed = pod("f", "w1", "1", false);
        failed["status"]["phase"] = json!("Failed");
        let a = reconcile(
            &ds(1),
            &nodes,
            &[
                pod("a", "w1", "1", true),
                pod("b", "w1", "1", true),
                pod("c", "m1", "1", true),
                failed,
            ],
        );
        let mut d = deleted_names(&a);
        d.sort();
        assert_eq!(d, vec!["b", "c", "f"]);
        // Generation 2: of two ready out-of-date pods, one is replaced at a time.
        let nodes = [node("w1", "worker", None), node("w2", "worker", None)];
        let a = reconcile(&ds(2), &nodes, &[pod("a", "w1", "1", true), pod("b", "w2", "1", true)]);
        assert_eq!(deleted_names(&a).len(), 1);
        let a = reconcile(&ds(2), &nodes, &[pod("a", "w1", "2", false), pod("b", "w2", "1", true)]);
        assert!(deleted_names(&a).is_empty(), "wait while a replaced pod is not ready");
    }
}
