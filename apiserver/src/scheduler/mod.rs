//! The scheduler: binds pending pods (spec.schedulerName `default-scheduler`) to nodes through
//! `pods/binding`, over the HTTP API only, like kube-scheduler. `algorithm` holds the filters and
//! scores; this loop lists nodes and pods, keeps a per-pod backoff, posts bindings and events.

pub mod algorithm;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Client;
use crate::controllers::util::{event, is_deleting, name, namespace, s, uid};

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// Per-pod retry state (kube-scheduler's backoff queue: 1 s doubling to 10 s).
#[derive(Debug, Default)]
pub struct Backoff {
    next: HashMap<String, (Instant, Duration)>,
}

impl Backoff {
    pub fn ready(&self, key: &str, now: Instant) -> bool {
        self.next.get(key).is_none_or(|(t, _)| now >= *t)
    }
    pub fn failed(&mut self, key: &str, now: Instant) {
        let d = self
            .next
            .get(key)
            .map_or(Duration::from_secs(1), |(_, d)| (*d * 2).min(Duration::from_secs(10)));
        self.next.insert(key.to_string(), (now + d, d));
    }
    /// When the earliest backoff ends, if any pod waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.next.values().map(|(t, _)| *t).min()
    }
    pub fn forget(&mut self, key: &str) {
        self.next.remove(key);
    }
    fn retain(&mut self, live: &std::collections::HashSet<String>) {
        self.next.retain(|k, _| live.contains(k));
    }
}

/// Is this pod ours to schedule?
pub fn is_pending_for_us(pod: &Value, scheduler_name: &str) -> bool {
    let sn = s(pod, "/spec/schedulerName");
    s(pod, "/spec/nodeName").is_empty()
        && (sn == scheduler_name || (sn.is_empty() && scheduler_name == DEFAULT_SCHEDULER))
        && !is_deleting(pod)
        && !matches!(s(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// Run forever against `client`: a pass whenever pods or nodes change (see
/// [`crate::controllers::trigger`]), when a pod's backoff ends, or every 10 s; passes are at
/// least 50 ms apart so a burst of new pods is bound in batches.
pub async fn run(client: Client, triggers: std::sync::Arc<crate::controllers::trigger::Triggers>) {
    let changed = triggers.subscribe(&["/api/v1/pods", "/api/v1/nodes"]);
    let mut backoff = Backoff::default();
    loop {
        if let Err(e) = schedule_once(&client, &mut backoff).await {
            tracing::debug!(error = %e, "scheduler pass failed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Instant::now();
        let wait = backoff
            .next_due()
            .map_or(Duration::from_secs(10), |t| t.saturating_duration_since(now))
            .min(Duration::from_secs(10));
        let _ = tokio::time::timeout(wait, changed.notified()).await;
    }
}

/// One pass: try every pending pod whose backoff expired; returns how many were bound.
pub async fn schedule_once(client: &Client, backoff: &mut Backoff) -> crate::client::Result<usize> {
    let nodes = client.list("/api/v1/nodes").await?;
    let mut pods = client.list("/api/v1/pods").await?;
    let mut pending: Vec<Value> = pods
        .iter()
        .filter(|p| is_pending_for_us(p, DEFAULT_SCHEDULER))
        .cloned()
        .collect();
    let live = pending.iter().map(|p| uid(p).to_string()).collect();
    backoff.retain(&live);
    pending.sort_by_key(|p| {
        (
            -p.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0),
            s(p, "/metadata/creationTimestamp").to_string(),
        )
    });
    let mut bound = 0;
    let now = Instant::now();
    for pod in pending {
        let key = uid(&pod).to_string();
        if !backoff.ready(&key, now) {
            continue;
        }
        let decision = {
            let states = algorithm::node_states(&nodes, &pods);
            algorithm::schedule(&pod, &states)
        };
        let ns = namespace(&pod).to_string();
        match decision {
            Ok(node) => {
                let binding = json!({
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name(&pod), "namespace": ns, "uid": uid(&pod)},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node},
                });
                let path = format!("/api/v1/namespaces/{ns}/pods/{}/binding", name(&pod));
                match client.create(&path, &binding).await {
                    Ok(_) => {
                        backoff.forget(&key);
                        bound += 1;
                        let msg = format!("Successfully assigned {ns}/{} to {node}", name(&pod));
                        let ev = event(&pod, "Pod", "v1", "Normal", "Scheduled", &msg, DEFAULT_SCHEDULER);
                        let _ = client.create(&format!("/api/v1/namespaces/{ns}/events"), &ev).await;
                        let mut assumed = pod.clone();
                        assumed["spec"]["nodeName"] = json!(node);
                        pods.push(assumed);
                    }
                    Err(e) => {
                        tracing::debug!(pod = %name(&pod), error = %e, "binding failed");
                        backoff.failed(&key, now);
                    }
                }
            }
            Err(msg) => {
                backoff.failed(&key, now);
                let ev = event(
                    &pod,
                    "Pod",
                    "v1",
                    "Warning",
                    "FailedScheduling",
                    &msg,
                    DEFAULT_SCHEDULER,
                );
                let _ = client.create(&format!("/api/v1/namespaces/{ns}/events"), &ev).await;
                let cond = json!({"status": {"conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
                    "lastProbeTime": null,
                    "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }]}});
                let path = format!("/api/v1/namespaces/{ns}/pods/{}/status", name(&pod));
                let _ = client.merge_patch(&path, &cond).await;
            }
        }
    }
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert!(b.ready("p", t0));
        b.failed("p", t0);
        assert!(!b.ready("p", t0));
        assert!(b.ready("p", t0 + Duration::from_secs(1)));
        for _ in 0..10 {
            b.failed("p", t0);
        }
        assert!(b.ready("p", t0 + Duration::from_secs(10)));
        assert!(b.next_due().is_some_and(|t| t > t0));
        b.forget("p");
        assert!(b.ready("p", t0));
        assert_eq!(b.next_due(), None);
    }

    #[test]
    fn scheduler_name_is_honoured() {
        let p = json!({"metadata":{"name":"a"},"spec":{"schedulerName":"other"}});
        assert!(!is_pending_for_us(&p, DEFAULT_SCHEDULER));
        assert!(is_pending_for_us(&p, "other"));
        let q = json!({"metadata":{"name":"a"},"spec":{"schedulerName":"default-scheduler","nodeName":"n"}});
        assert!(!is_pending_for_us(&q, DEFAULT_SCHEDULER));
    }
}
