//! StatefulSet controller: pods `<set>-0 … <set>-(n-1)` with stable names and hostnames
//! (`subdomain` = `spec.serviceName`), a PersistentVolumeClaim `<claim>-<set>-<i>` per
//! `volumeClaimTemplates` entry kept across pod restarts; OrderedReady creates in ordinal
//! order and waits for each pod to be Running and Ready (Parallel does not wait), scales
//! down from the highest ordinal; RollingUpdate replaces pods of an old template revision from
//! the highest ordinal down to `partition`, one at a time; failed pods are recreated.

use serde_json::{json, Value};

use super::deployment::template_hash;
use super::replicaset::pod_from_template;
use super::util::{controller_uid, i, is_deleting, name, namespace, pod_is_ready, s, uid};
use super::Action;

const REVISION_LABEL: &str = "controller-revision-hash";
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// The ordinal of `<set>-<i>`, if the pod is one of the set's.
fn ordinal(set: &str, pod: &str) -> Option<i64> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn running_and_ready(p: &Value) -> bool {
    s(p, "/status/phase") == "Running" && pod_is_ready(p)
}

/// The set's pod with ordinal `i` at `revision`.
fn stateful_pod(sts: &Value, ord: i64, revision: &str) -> Value {
    let mut pod = pod_from_template(sts, "apps/v1", "StatefulSet");
    let pod_name = format!("{}-{ord}", name(sts));
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("generateName");
    }
    pod["metadata"]["name"] = json!(pod_name);
    pod["metadata"]["labels"][REVISION_LABEL] = json!(revision);
    pod["metadata"]["labels"][POD_NAME_LABEL] = json!(pod_name);
    pod["spec"]["hostname"] = json!(pod_name);
    let service = s(sts, "/spec/serviceName");
    if !service.is_empty() {
        pod["spec"]["subdomain"] = json!(service);
    }
    let mut volumes = pod["spec"]
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for claim in claim_templates(sts) {
        let cname = s(claim, "/metadata/name");
        if !volumes.iter().any(|v| v["name"] == cname) {
            volumes.push(json!({"name": cname, "persistentVolumeClaim": {"claimName": claim_name(sts, cname, ord)}}));
        }
    }
    if !volumes.is_empty() {
        pod["spec"]["volumes"] = json!(volumes);
    }
    pod
}

fn claim_templates(sts: &Value) -> Vec<&Value> {
    sts.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn claim_name(sts: &Value, claim: &str, ord: i64) -> String {
    format!("{claim}-{}-{ord}", name(sts))
}

/// `<set>-<template hash>`, as the pods' `controller-revision-hash` label.
pub fn revision(sts: &Value) -> String {
    format!(
        "{}-{}",
        name(sts),
        template_hash(sts.pointer("/spec/template").unwrap_or(&Value::Null))
    )
}

/// Actions for one StatefulSet given all pods and PersistentVolumeClaims.
pub fn reconcile(sts: &Value, pods: &[Value], claims: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(sts) {
        return out;
    }
    let ns = namespace(sts);
    let set = name(sts);
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");
    let replicas = i(sts, "/spec/replicas", 1).max(0);
    let parallel = s(sts, "/spec/podManagementPolicy") == "Parallel";
    let rev = revision(sts);
    let mut by_ord: Vec<(i64, &Value)> = pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid(sts)))
        .filter_map(|p| ordinal(set, name(p)).map(|o| (o, p)))
        .collect();
    by_ord.sort_by_key(|(o, _)| *o);
    let pod_at = |o: i64| by_ord.iter().find(|(x, _)| *x == o).map(|(_, p)| *p);

    // Claims first: a pod never starts without its volumes.
    for o in 0..replicas {
        for claim in claim_templates(sts) {
            let cname = claim_name(sts, s(claim, "/metadata/name"), o);
            if !claims.iter().any(|c| namespace(c) == ns && name(c) == cname) {
                let mut pvc = claim.clone();
                pvc["apiVersion"] = json!("v1");
                pvc["kind"] = json!("PersistentVolumeClaim");
                pvc["metadata"]["name"] = json!(cname);
                pvc["metadata"]["namespace"] = json!(ns);
                let labels = sts
                    .pointer("/spec/selector/matchLabels")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                pvc["metadata"]["labels"] = labels;
                out.push(Action::Create {
                    path: format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"),
                    obj: pvc,
                });
            }
        }
    }

    // Scale up (and replace failed pods) in ordinal order.
    let mut blocked = false;
    for o in 0..replicas {
        match pod_at(o) {
            None => {
                if !blocked {
                    out.push(Action::Create {
                        path: pods_path.clone(),
                        obj: stateful_pod(sts, o, &rev),
                    });
                }
                blocked |= !parallel;
            }
            Some(p) if s(p, "/status/phase") == "Failed" && !is_deleting(p) => {
                out.push(Action::Delete {
                    path: format!("{pods_path}/{}", name(p)),
                });
                blocked |= !parallel;
            }
            Some(p) => blocked |= !parallel && (is_deleting(p) || !running_and_ready(p)),
        }
    }
    let all_ready = (0..replicas).all(|o| pod_at(o).is_some_and(|p| running_and_ready(p) && !is_deleting(p)));

    // Scale down from the highest ordinal, one at a time (all at once when Parallel).
    let extra: Vec<&Value> = by_ord
        .iter()
        .rev()
        .filter(|(o, _)| *o >= replicas)
        .map(|(_, p)| *p)
        .collect();
    let condemned: Vec<&Value> = extra.iter().copied().filter(|p| !is_deleting(p)).collect();
    if !condemned.is_empty() && (parallel || (all_ready && condemned.len() == extra.len())) {
        let n = if parallel { condemned.len() } else { 1 };
        for p in condemned.into_iter().take(n) {
            out.push(Action::Delete {
                path: format!("{pods_path}/{}", name(p)),
            });
        }
    }

    // Rolling update: the highest out-of-date ordinal at or above the partition.
    if s(sts, "/spec/updateStrategy/type") != "OnDelete" && all_ready && extra.is_empty() {
        let partition = i(sts, "/spec/updateStrategy/rollingUpdate/partition", 0);
        if let Some((_, p)) = by_ord.iter().rev().find(|(o, p)| {
            *o < replicas && *o >= partition && s(p, &format!("/metadata/labels/{REVISION_LABEL}")) != rev
        }) {
            out.push(Action::Delete {
                path: format!("{pods_path}/{}", name(p)),
            });
        }
    }

    let live: Vec<&Value> = by_ord.iter().map(|(_, p)| *p).filter(|p| !is_deleting(p)).collect();
    let updated = live
        .iter()
        .filter(|p| s(p, &format!("/metadata/labels/{REVISION_LABEL}")) == rev)
        .count();
    let status = json!({
        "replicas": live.len(),
        "readyReplicas": live.iter().filter(|p| running_and_ready(p)).count(),
        "currentReplicas": updated,
        "updatedReplicas": updated,
        "currentRevision": rev,
        "updateRevision": rev,
        "observedGeneration": i(sts, "/metadata/generation", 1),
    });
    let cur = sts.get("status").cloned().unwrap_or_else(|| json!({}));
    if status
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| cur.get(k) != Some(v))
    {
        out.push(Action::Patch {
            path: format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{set}/status"),
            patch: json!({"status": status}),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deleted_names;

    fn sts(replicas: i64, extra: Value) -> Value {
        let mut v = json!({"metadata": {"name": "db", "namespace": "d", "uid": "s1", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "db", "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
        if let (Some(m), Some(e)) = (v["spec"].as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                m.insert(k.clone(), x.clone());
            }
        }
        v
    }

    fn pod(set: &Value, ord: i64, ready: bool) -> Value {
        let mut p = stateful_pod(set, ord, &revision(set));
        p["metadata"]["ownerReferences"][0]["uid"] = json!("s1");
        p["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]});
        p
    }

    fn claims(n: i64) -> Vec<Value> {
        (0..n)
            .map(|o| json!({"metadata": {"name": format!("data-db-{o}"), "namespace": "d"}}))
            .collect()
    }

    fn created_pods(a: &[Action]) -> Vec<String> {
        a.iter()
            .filter_map(|a| match a {
                Action::Create { path, obj } if path.ends_with("/pods") => {
                    obj["metadata"]["name"].as_str().map(String::from)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ordered_creation_waits_for_each_pod_and_claims_come_first() {
        let set = sts(3, json!({}));
        let a = reconcile(&set, &[], &[]);
        assert_eq!(created_pods(&a), vec!["db-0"]);
        let pvcs = a
            .iter()
            .filter(|a| matches!(a, Action::Create { path, .. } if path.ends_with("persistentvolumeclaims")))
            .count();
        assert_eq!(pvcs, 3);
        let Some(Action::Create { obj, .. }) = a
            .iter()
            .find(|a| matches!(a, Action::Create { path, .. } if path.ends_with("/pods")))
        else {
            panic!("pod")
        };
        assert_eq!(obj["spec"]["hostname"], "db-0");
        assert_eq!(obj["spec"]["subdomain"], "db");
        assert_eq!(
            obj["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data-db-0"
        );
        // db-0 not ready yet: nothing more.
        assert!(created_pods(&reconcile(&set, &[pod(&set, 0, false)], &claims(3))).is_empty());
        assert_eq!(
            created_pods(&reconcile(&set, &[pod(&set, 0, true)], &claims(3))),
            vec!["db-1"]
        );
        // Parallel creates every missing pod at once.
        let par = sts(3, json!({"podManagementPolicy": "Parallel"}));
        assert_eq!(
            created_pods(&reconcile(&par, &[], &claims(3))),
            vec!["db-0", "db-1", "db-2"]
        );
    }

    #[test]
    fn scales_down_from_the_top_and_rolls_updates_down_to_the_partition() {
        let set = sts(3, json!({}));
        let pods: Vec<Value> = (0..3).map(|o| pod(&set, o, true)).collect();
        let smaller = sts(1, json!({}));
        assert_eq!(deleted_names(&reconcile(&smaller, &pods, &claims(3))), vec!["db-2"]);
        // A new template: the highest ordinal first, and only while everything is ready.
        let mut newer = sts(
            3,
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
        );
        newer["spec"]["template"]["spec"]["containers"][0]["image"] = json!("i2");
        assert_eq!(deleted_names(&reconcile(&newer, &pods, &claims(3))), vec!["db-2"]);
        let mut updated = pods.clone();
        updated[2] = pod(&newer, 2, true);
        assert_eq!(deleted_names(&reconcile(&newer, &updated, &claims(3))), vec!["db-1"]);
        updated[1] = pod(&newer, 1, true);
        assert!(
            deleted_names(&reconcile(&newer, &updated, &claims(3))).is_empty(),
            "db-0 is below the partition"
        );
        let mut waiting = pods.clone();
        waiting[1] = pod(&set, 1, false);
        assert!(deleted_names(&reconcile(&newer, &waiting, &claims(3))).is_empty());
    }
}
