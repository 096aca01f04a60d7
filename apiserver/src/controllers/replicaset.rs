//! ReplicaSet controller: keep `spec.replicas` active pods owned by each ReplicaSet (create from
//! the template, delete the least useful extras) and report status.

use serde_json::{json, Value};

use super::util::{controller_uid, i, is_deleting, labels, name, namespace, pod_is_active, pod_is_ready, s, uid};
use super::Action;

/// The pod a ReplicaSet's template makes.
pub fn pod_from_template(owner: &Value, owner_api_version: &str, owner_kind: &str) -> Value {
    let tpl = owner.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    let mut meta = tpl.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.remove("name");
        m.remove("namespace");
        m.remove("uid");
        m.remove("resourceVersion");
        m.remove("creationTimestamp");
        m.insert("generateName".into(), json!(format!("{}-", name(owner))));
        m.insert("namespace".into(), json!(namespace(owner)));
        m.insert(
            "ownerReferences".into(),
            json!([super::util::owner_ref(owner, owner_api_version, owner_kind)]),
        );
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl.get("spec").cloned().unwrap_or_else(|| json!({}))})
}

/// Deletion preference (kube's ActivePods ordering): unassigned < pending < not ready < newer.
fn deletion_rank(p: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>) {
    (
        u8::from(!s(p, "/spec/nodeName").is_empty()),
        u8::from(s(p, "/status/phase") == "Running"),
        u8::from(pod_is_ready(p)),
        std::cmp::Reverse(s(p, "/metadata/creationTimestamp").to_string()),
    )
}

/// Actions for one ReplicaSet given all pods of its namespace.
pub fn reconcile(rs: &Value, pods: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(rs) {
        return out;
    }
    let ns = namespace(rs);
    let mut owned: Vec<&Value> = pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid(rs)) && pod_is_active(p))
        .collect();
    let want = i(rs, "/spec/replicas", 1).max(0) as usize;
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");
    if owned.len() < want {
        let pod = pod_from_template(rs, "apps/v1", "ReplicaSet");
        for _ in owned.len()..want.min(owned.len() + 500) {
            out.push(Action::Create {
                path: pods_path.clone(),
                obj: pod.clone(),
            });
        }
    } else if owned.len() > want {
        owned.sort_by_key(|p| deletion_rank(p));
        for p in &owned[..owned.len() - want] {
            out.push(Action::Delete {
                path: format!("{pods_path}/{}", name(p)),
            });
            out.extend(super::events::pod_deleted(rs, "ReplicaSet", p).map(Action::Event));
        }
    }
    let ready = owned.iter().filter(|p| pod_is_ready(p)).count();
    let tpl_labels = labels(&json!({"metadata": rs.pointer("/spec/template/metadata").cloned()}));
    let fully = owned
        .iter()
        .filter(|p| {
            let l = labels(p);
            tpl_labels.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count();
    let status = json!({
        "replicas": owned.len(),
        "fullyLabeledReplicas": fully,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": i(rs, "/metadata/generation", 1),
    });
    let cur = rs.get("status").cloned().unwrap_or_else(|| json!({}));
    let differs = [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .any(|k| cur.get(*k).and_then(Value::as_i64).unwrap_or(0) != status[*k].as_i64().unwrap_or(0));
    if differs {
        out.push(Action::Patch {
            path: format!("/apis/apps/v1/namespaces/{ns}/replicasets/{}/status", name(rs)),
            patch: json!({"status": status}),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i64) -> Value {
        json!({"metadata":{"name":"web-1","namespace":"d","uid":"rs1","generation":2},
            "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}})
    }

    fn pod(n: &str, node: &str, ready: bool) -> Value {
        json!({"metadata":{"name":n,"namespace":"d","labels":{"app":"web"},"creationTimestamp":format!("2024-01-01T00:00:0{}Z", n.len()),
            "ownerReferences":[{"uid":"rs1","controller":true,"kind":"ReplicaSet","name":"web-1"}]},
            "spec":{"nodeName":node},
            "status":{"phase":"Running","conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn creates_missing_pods_from_template() {
        let acts = reconcile(&rs(3), &[pod("a", "n1", true)]);
        let creates: Vec<_> = acts.iter().filter(|a| matches!(a, Action::Create { .. })).collect();
        assert_eq!(creates.len(), 2);
        let Action::Create { path, obj } = creates[0] else {
            panic!("create")
        };
        assert_eq!(path, "/api/v1/namespaces/d/pods");
        assert_eq!(obj["metadata"]["generateName"], "web-1-");
        assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "rs1");
        assert_eq!(obj["spec"]["containers"][0]["image"], "i");
    }

    #[test]
    fn deletes_unready_and_unscheduled_first_and_reports_status() {
        let pods = vec![pod("a", "n1", true), pod("bb", "", false), pod("ccc", "n1", false)];
        let acts = reconcile(&rs(1), &pods);
        let deleted: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Delete { path } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            deleted,
            vec!["/api/v1/namespaces/d/pods/bb", "/api/v1/namespaces/d/pods/ccc"]
        );
        let status = acts.iter().find_map(|a| match a {
            Action::Patch { patch, .. } => Some(patch.clone()),
            _ => None,
        });
        let status = status.expect("status patch");
        assert_eq!(status["status"]["replicas"], 3);
        assert_eq!(status["status"]["readyReplicas"], 1);
        assert_eq!(status["status"]["observedGeneration"], 2);
    }

    #[test]
    fn ignores_pods_of_other_owners_and_terminated_ones() {
        let mut other = pod("x", "n1", true);
        other["metadata"]["ownerReferences"][0]["uid"] = json!("zzz");
        let mut done = pod("y", "n1", false);
        done["status"]["phase"] = json!("Succeeded");
        let acts = reconcile(&rs(1), &[other, done]);
        assert_eq!(acts.iter().filter(|a| matches!(a, Action::Create { .. })).count(), 1);
    }
}
