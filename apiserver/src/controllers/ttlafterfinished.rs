//! TTL-after-finished controller: a Job with `spec.ttlSecondsAfterFinished` is deleted (with
//! foreground propagation, so its pods go first) that many seconds after it finished — the
//! lastTransitionTime of its Complete or Failed condition, as kube's ttlafterfinished
//! controller counts.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::{is_deleting, name, namespace, s};
use super::Action;

/// When `job` finished, if it did.
fn finished_at(job: &Value) -> Option<DateTime<Utc>> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .filter(|c| matches!(s(c, "/type"), "Complete" | "Failed") && s(c, "/status") == "True")
        .filter_map(|c| DateTime::parse_from_rfc3339(s(c, "/lastTransitionTime")).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// Deletions due at `now`.
pub fn reconcile(jobs: &[Value], now: DateTime<Utc>) -> Vec<Action> {
    jobs.iter()
        .filter(|j| !is_deleting(j))
        .filter_map(|j| {
            let ttl = j.pointer("/spec/ttlSecondsAfterFinished")?.as_i64()?;
            let done = finished_at(j)?;
            (now >= done + chrono::Duration::seconds(ttl.max(0))).then(|| Action::DeleteForeground {
                path: format!("/apis/batch/v1/namespaces/{}/jobs/{}", namespace(j), name(j)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_finished_jobs_once_their_ttl_ran_out() {
        let job = |name: &str, ttl: Option<i64>, cond: Option<(&str, &str)>| {
            let mut j = json!({"metadata":{"name":name,"namespace":"d"},"spec":{}});
            if let Some(t) = ttl {
                j["spec"]["ttlSecondsAfterFinished"] = json!(t);
            }
            if let Some((typ, at)) = cond {
                j["status"] = json!({"conditions":[{"type":typ,"status":"True","lastTransitionTime":at}]});
            }
            j
        };
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:01:00Z").map(|t| t.with_timezone(&Utc));
        let now = now.expect("time");
        let jobs = vec![
            job("due", Some(30), Some(("Complete", "2026-01-01T00:00:00Z"))),
            job("failed-due", Some(0), Some(("Failed", "2026-01-01T00:00:59Z"))),
            job("not-yet", Some(120), Some(("Complete", "2026-01-01T00:00:00Z"))),
            job("running", Some(0), None),
            job("no-ttl", None, Some(("Complete", "2026-01-01T00:00:00Z"))),
        ];
        let acts = reconcile(&jobs, now);
        let paths: Vec<String> = acts
            .iter()
            .filter_map(|a| match a {
                Action::DeleteForeground { path } => Some(path.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            [
                "/apis/batch/v1/namespaces/d/jobs/due",
                "/apis/batch/v1/namespaces/d/jobs/failed-due"
            ]
        );
    }
}
