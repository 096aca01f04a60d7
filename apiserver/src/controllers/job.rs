//! Job controller: run a Job's pods until `completions` of them succeed (at most
//! `parallelism` at a time), or mark it Failed once more than `backoffLimit` pods failed;
//! keep `status` (active, succeeded, failed, startTime, completionTime, conditions) current.

use serde_json::{json, Value};

use super::replicaset::pod_from_template;
use super::util::{controller_uid, i, is_deleting, name, namespace, s, uid};
use super::Action;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether the Job already has condition `kind` (Complete or Failed) set to True.
pub fn finished(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| matches!(s(c, "/type"), "Complete" | "Failed") && s(c, "/status") == "True")
        })
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let t = now();
    let mut c = json!({"type": kind, "status": "True", "lastProbeTime": t, "lastTransitionTime": t});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

/// Actions for one Job given the pods of all namespaces.
pub fn reconcile(job: &Value, pods: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(job) || finished(job) {
        return out;
    }
    let ns = namespace(job);
    let owned: Vec<&Value> = pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid(job)))
        .collect();
    let phase = |p: &&Value| s(p, "/status/phase").to_string();
    let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = owned.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let active: Vec<&&Value> = owned
        .iter()
        .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed") && !is_deleting(p))
        .collect();
    let completions = i(job, "/spec/completions", 1).max(0);
    let parallelism = i(job, "/spec/parallelism", 1).max(0);
    let backoff_limit = i(job, "/spec/backoffLimit", 6).max(0);
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");

    let mut status = job.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    if s(job, "/status/startTime").is_empty() {
        status["startTime"] = json!(now());
    }
    let mut conditions = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut active_now = active.len() as i64;
    if failed > backoff_limit {
        conditions.push(condition(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
        for p in &active {
            out.push(Action::Delete {
                path: format!("{pods_path}/{}", name(p)),
            });
        }
        active_now = 0;
    } else if succeeded >= completions {
        conditions.push(condition("Complete", "", ""));
        out.push(Action::Event(super::util::event(
            job,
            "Job",
            "batch/v1",
            "Normal",
            "Completed",
            "Job completed",
            "job-controller",
        )));
        status["completionTime"] = json!(now());
    } else {
        let want = parallelism.min(completions - succeeded);
        if active_now < want {
            let pod = pod_from_template(job, "batch/v1", "Job");
            for _ in active_now..want.min(active_now + 500) {
                out.push(Action::Create {
                    path: pods_path.clone(),
                    obj: pod.clone(),
                });
            }
            active_now = want;
        }
    }
    for (k, v) in [("active", active_now), ("succeeded", succeeded), ("failed", failed)] {
        if v > 0 {
            status[k] = json!(v);
        } else if let Some(m) = status.as_object_mut() {
            m.remove(k);
        }
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    if job.get("status") != Some(&status) {
        let mut updated = job.clone();
        updated["status"] = status;
        out.push(Action::Update {
            path: format!("/apis/batch/v1/namespaces/{ns}/jobs/{}/status", name(job)),
            obj: updated,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(completions: i64, parallelism: i64, backoff: i64) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "ns", "uid": "ju", "resourceVersion": "5"},
            "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff,
                "template": {"metadata": {"labels": {"job-name": "j"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"startTime": "2026-01-01T00:00:00Z"}})
    }

    fn pod(n: &str, phase: &str) -> Value {
        json!({"metadata": {"name": n, "namespace": "ns",
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "ju", "controller": true}]},
            "status": {"phase": phase}})
    }

    fn creates(a: &[Action]) -> usize {
        a.iter().filter(|a| matches!(a, Action::Create { .. })).count()
    }

    fn status_of(a: &[Action]) -> Option<Value> {
        a.iter().find_map(|a| match a {
            Action::Update { obj, .. } => obj.get("status").cloned(),
            _ => None,
        })
    }

    #[test]
    fn runs_up_to_parallelism_until_completions_succeed() {
        let j = job(3, 2, 6);
        let a = reconcile(&j, &[]);
        assert_eq!(creates(&a), 2);
        let Some(Action::Create { obj, .. }) = a.first() else {
            panic!("no create")
        };
        assert_eq!(obj["metadata"]["generateName"], "j-");
        assert_eq!(obj["metadata"]["ownerReferences"][0]["kind"], "Job");
        assert_eq!(status_of(&a).expect("status")["active"], 2);
        // One succeeded, one running: one more to reach 3 (only 1 left to run beside the active one).
        let a = reconcile(&j, &[pod("a", "Succeeded"), pod("b", "Running")]);
        assert_eq!(creates(&a), 1);
        let a = reconcile(
            &j,
            &[pod("a", "Succeeded"), pod("b", "Succeeded"), pod("c", "Succeeded")],
        );
        assert_eq!(creates(&a), 0);
        let st = status_of(&a).expect("status");
        assert_eq!(st["succeeded"], 3);
        assert_eq!(st["conditions"][0]["type"], "Complete");
        assert!(st.get("completionTime").is_some());
    }

    #[test]
    fn fails_after_the_backoff_limit_and_stops_its_pods() {
        let j = job(1, 1, 1);
        let a = reconcile(&j, &[pod("a", "Failed"), pod("b", "Failed"), pod("c", "Running")]);
        assert_eq!(creates(&a), 0);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::Delete { path } if path.ends_with("/pods/c"))));
        let st = status_of(&a).expect("status");
        assert_eq!(st["conditions"][0]["reason"], "BackoffLimitExceeded");
        assert_eq!(st["failed"], 2);
        // A finished Job is left alone.
        let mut done = j.clone();
        done["status"] = st;
        assert!(reconcile(&done, &[]).is_empty());
    }

    #[test]
    fn an_up_to_date_status_is_not_rewritten() {
        let mut j = job(1, 1, 6);
        j["status"]["active"] = json!(1);
        let a = reconcile(&j, &[pod("a", "Running")]);
        assert!(a.is_empty(), "{a:?}");
    }
}
