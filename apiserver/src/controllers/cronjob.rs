//! CronJob controller: at each scheduled time create a Job from `spec.jobTemplate`, named
//! `<cronjob>-<minutes since the epoch>` as Kubernetes names it (so a time is never run
//! twice), honouring `suspend`, `concurrencyPolicy` (Allow, Forbid, Replace) and
//! `startingDeadlineSeconds`; keep `status.active` and `status.lastScheduleTime`; delete
//! finished Jobs beyond the history limits.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::job::finished;
use super::util::{controller_uid, i, is_deleting, name, namespace, s, uid};
use super::Action;

fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The latest scheduled time in (`after`, `now`], if any. Looks back over growing windows
/// (an hour, a day, a month, a year, five years) so a long outage costs a bounded walk.
pub fn last_due(schedule: &str, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = croner::Cron::new(schedule).parse().ok()?;
    for window in [3_600, 86_400, 32 * 86_400, 366 * 86_400, 5 * 366 * 86_400] {
        let start = (now - chrono::Duration::seconds(window)).max(after);
        let mut due = None;
        let mut t = start;
        while let Ok(next) = cron.find_next_occurrence(&t, false) {
            if next > now {
                break;
            }
            due = Some(next);
            t = next;
        }
        if due.is_some() || start == after {
            return due;
        }
    }
    None
}

fn job_ref(job: &Value) -> Value {
    json!({"kind": "Job", "apiVersion": "batch/v1", "namespace": namespace(job), "name": name(job),
           "uid": uid(job), "resourceVersion": s(job, "/metadata/resourceVersion")})
}

/// Actions for one CronJob given the Jobs of all namespaces, at `now`.
pub fn reconcile(cj: &Value, jobs: &[Value], now: DateTime<Utc>) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(cj) {
        return out;
    }
    let ns = namespace(cj);
    let api_version = s(cj, "/apiVersion");
    let api_version = if api_version.is_empty() {
        "batch/v1"
    } else {
        api_version
    };
    let jobs_path = format!("/apis/batch/v1/namespaces/{ns}/jobs");
    let owned: Vec<&Value> = jobs
        .iter()
        .filter(|j| namespace(j) == ns && controller_uid(j) == Some(uid(cj)) && !is_deleting(j))
        .collect();
    let mut active: Vec<&Value> = owned.iter().copied().filter(|j| !finished(j)).collect();

    // History: keep the newest finished Jobs up to each limit.
    for (kind, limit) in [
        ("Complete", i(cj, "/spec/successfulJobsHistoryLimit", 3)),
        ("Failed", i(cj, "/spec/failedJobsHistoryLimit", 1)),
    ] {
        let mut done: Vec<&Value> = owned
            .iter()
            .copied()
            .filter(|j| {
                j.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| cs.iter().any(|c| s(c, "/type") == kind && s(c, "/status") == "True"))
            })
            .collect();
        done.sort_by_key(|j| s(j, "/metadata/creationTimestamp").to_string());
        let extra = done.len().saturating_sub(limit.max(0) as usize);
        for j in done.into_iter().take(extra) {
            out.push(Action::Delete {
                path: format!("{jobs_path}/{}", name(j)),
            });
        }
    }

    let mut last = s(cj, "/status/lastScheduleTime").to_string();
    let suspended = cj.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false);
    let since = time(&last).or_else(|| time(s(cj, "/metadata/creationTimestamp")));
    if let (false, Some(since)) = (suspended, since) {
        if let Some(t) = last_due(s(cj, "/spec/schedule"), since, now) {
            let deadline = cj.pointer("/spec/startingDeadlineSeconds").and_then(Value::as_i64);
            let too_late = deadline.is_some_and(|d| (now - t).num_seconds() > d);
            let policy = s(cj, "/spec/concurrencyPolicy");
            let forbidden = policy == "Forbid" && !active.is_empty();
            if !too_late && !forbidden {
                if policy == "Replace" {
                    for j in active.drain(..) {
                        out.push(Action::Delete {
                            path: format!("{jobs_path}/{}", name(j)),
                        });
                    }
                }
                let job_name = format!("{}-{}", name(cj), t.timestamp() / 60);
                if !owned.iter().any(|j| name(j) == job_name) {
                    let tpl = cj.pointer("/spec/jobTemplate").cloned().unwrap_or_else(|| json!({}));
                    let mut meta = tpl.get("metadata").cloned().unwrap_or_else(|| json!({}));
                    if !meta.is_object() {
                        meta = json!({});
                    }
                    meta["name"] = json!(job_name);
                    meta["namespace"] = json!(ns);
                    meta["ownerReferences"] = json!([super::util::owner_ref(cj, api_version, "CronJob")]);
                    let mut annotations = meta.get("annotations").cloned().unwrap_or_else(|| json!({}));
                    if !annotations.is_object() {
                        annotations = json!({});
                    }
                    annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = json!(rfc3339(t));
                    meta["annotations"] = annotations;
                    out.push(Action::Create {
                        path: jobs_path.clone(),
                        obj: json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                                    "spec": tpl.get("spec").cloned().unwrap_or_else(|| json!({}))}),
                    });
                }
                last = rfc3339(t);
            }
        }
    }

    let mut status = cj.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let refs: Vec<Value> = active.iter().map(|j| job_ref(j)).collect();
    match (refs.is_empty(), status.as_object_mut()) {
        (true, Some(m)) => {
            m.remove("active");
        }
        _ => status["active"] = json!(refs),
    }
    if !last.is_empty() {
        status["lastScheduleTime"] = json!(last);
    }
    if cj.get("status") != Some(&status) {
        let mut updated = cj.clone();
        updated["status"] = status;
        out.push(Action::Update {
            path: format!("/apis/{api_version}/namespaces/{ns}/cronjobs/{}/status", name(cj)),
            obj: updated,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        time(s).expect("time")
    }

    fn cronjob(extra: Value) -> Value {
        let mut cj = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "ns", "uid": "cu", "creationTimestamp": "2026-01-01T00:00:30Z"},
            "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow",
                "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1,
                "jobTemplate": {"metadata": {"labels": {"app": "tick"}},
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {}});
        if let (Some(m), Some(e)) = (cj["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                m.insert(k.clone(), v.clone());
            }
        }
        cj
    }

    fn job(name: &str, created: &str, condition: Option<&str>) -> Value {
        let mut j = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "creationTimestamp": created,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick", "uid": "cu", "controller": true}]},
            "status": {}});
        if let Some(c) = condition {
            j["status"]["conditions"] = json!([{"type": c, "status": "True"}]);
        }
        j
    }

    fn created(a: &[Action]) -> Vec<String> {
        a.iter()
            .filter_map(|a| match a {
                Action::Create { obj, .. } => obj["metadata"]["name"].as_str().map(String::from),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn schedules_the_latest_due_time_once() {
        assert_eq!(
            last_due("*/5 * * * *", at("2026-01-01T00:00:30Z"), at("2026-01-01T00:12:00Z")),
            Some(at("2026-01-01T00:10:00Z"))
        );
        assert_eq!(
            last_due("*/5 * * * *", at("2026-01-01T00:10:00Z"), at("2026-01-01T00:12:00Z")),
            None
        );
        assert_eq!(
            last_due("not a schedule", at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z")),
            None
        );
        // Far behind: still the newest due time.
        assert_eq!(
            last_due("* * * * *", at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:30Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        let cj = cronjob(json!({}));
        let now = at("2026-01-01T00:12:00Z");
        let a = reconcile(&cj, &[], now);
        let want = format!("tick-{}", at("2026-01-01T00:10:00Z").timestamp() / 60);
        assert_eq!(created(&a), vec![want.clone()]);
        let Some(Action::Create { obj, .. }) = a.iter().find(|a| matches!(a, Action::Create { .. })) else {
            panic!("no create")
        };
        assert_eq!(obj["metadata"]["labels"]["app"], "tick");
        assert_eq!(obj["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        // The Job exists (status not written back yet): not created twice.
        let existing = job(&want, "2026-01-01T00:10:01Z", None);
        assert!(created(&reconcile(&cj, &[existing], now)).is_empty());
    }

    #[test]
    fn suspend_forbid_deadline_and_history() {
        let now = at("2026-01-01T00:12:00Z");
        assert!(created(&reconcile(&cronjob(json!({"suspend": true})), &[], now)).is_empty());
        let running = job("tick-1", "2026-01-01T00:05:01Z", None);
        let forbid = cronjob(json!({"concurrencyPolicy": "Forbid"}));
        assert!(created(&reconcile(&forbid, std::slice::from_ref(&running), now)).is_empty());
        let replace = cronjob(json!({"concurrencyPolicy": "Replace"}));
        let a = reconcile(&replace, &[running], now);
        assert_eq!(created(&a).len(), 1);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::Delete { path } if path.ends_with("/jobs/tick-1"))));
        let late = cronjob(json!({"startingDeadlineSeconds": 60}));
        assert!(
            created(&reconcile(&late, &[], now)).is_empty(),
            "due 2 minutes ago, deadline 60 s"
        );
        // Two succeeded Jobs with a limit of 1: the older one goes.
        let old = job("tick-a", "2026-01-01T00:00:01Z", Some("Complete"));
        let new = job("tick-b", "2026-01-01T00:05:01Z", Some("Complete"));
        let mut quiet = cronjob(json!({}));
        quiet["status"]["lastScheduleTime"] = json!("2026-01-01T00:10:00Z");
        let a = reconcile(&quiet, &[old, new], now);
        let deleted: Vec<&Action> = a.iter().filter(|a| matches!(a, Action::Delete { .. })).collect();
        assert_eq!(deleted.len(), 1);
        assert!(matches!(deleted[0], Action::Delete { path } if path.ends_with("/jobs/tick-a")));
    }
}
