//! Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: a candidate
//! takes the Lease when it is free or its holder has not renewed it for `lease_duration` (timed
//! by the candidate's own clock from when it last saw the record change, so clocks need not
//! agree), the leader renews every `retry_period` and gives up when it cannot renew within
//! `renew_deadline`. Writes are optimistic (resourceVersion), so two candidates never both win.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{Client, ClientError};
use crate::controllers::util::event;

/// kube's `--leader-elect-*` settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    /// `holderIdentity`: kube uses `<hostname>_<uuid>`.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// Names the component in the `LeaderElection` event.
    pub component: String,
}

impl Config {
    /// kube's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(namespace: &str, name: &str, component: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            component: component.to_string(),
        }
    }

    /// kube's checks of the durations.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("leaseDuration must be greater than renewDeadline".into());
        }
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry_period.as_secs_f64() {
            return Err("renewDeadline must be greater than retryPeriod*JitterFactor".into());
        }
        if self.retry_period.is_zero() {
            return Err("retryPeriod must be greater than zero".into());
        }
        if self.identity.is_empty() {
            return Err("Lock identity is empty".into());
        }
        Ok(())
    }

    fn path(&self) -> String {
        format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
            self.namespace, self.name
        )
    }
}

/// `<hostname>_<uuid>`, as kube-controller-manager and kube-scheduler name themselves.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!("{host}_{}", crate::registry::meta::new_uid())
}

/// This candidate lost (or could not keep) the lease; kube's components exit then.
#[derive(Debug, thiserror::Error)]
#[error("leaderelection lost: could not renew lease {namespace}/{name} within {deadline:?}")]
pub struct Lost {
    pub namespace: String,
    pub name: String,
    pub deadline: Duration,
}

/// MicroTime as metav1 marshals it.
fn micro_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// One candidate's view of the lock.
pub struct Elector {
    client: Client,
    cfg: Config,
    /// The last record seen and when (by our clock) it was first seen.
    observed: Option<(Value, Instant)>,
}

impl Elector {
    pub fn new(client: Client, cfg: Config) -> Self {
        Self {
            client,
            cfg,
            observed: None,
        }
    }

    /// Blocks until this candidate holds the lease, then calls `on_started_leading` once and
    /// keeps renewing; returns when the lease could not be renewed within the deadline.
    pub async fn run(mut self, on_started_leading: impl FnOnce()) -> Lost {
        tracing::info!(lease = %format!("{}/{}", self.cfg.namespace, self.cfg.name), identity = %self.cfg.identity, "attempting to acquire leader lease");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "error retrieving resource lock"),
            }
            tokio::time::sleep(jitter(self.cfg.retry_period)).await;
        }
        tracing::info!(identity = %self.cfg.identity, "successfully acquired lease");
        on_started_leading();
        self.became_leader_event().await;
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let deadline = Instant::now() + self.cfg.renew_deadline;
            let mut renewed = false;
            while Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => {
                        renewed = true;
                        break;
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "failed to renew lease"),
                    Err(_) => break,
                }
                tokio::time::sleep(
                    self.cfg
                        .retry_period
                        .min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
            }
            if !renewed {
                return Lost {
                    namespace: self.cfg.namespace.clone(),
                    name: self.cfg.name.clone(),
                    deadline: self.cfg.renew_deadline,
                };
            }
        }
    }

    /// One attempt: create the lease, renew ours, or take an expired one.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, ClientError> {
        let now = micro_now();
        let path = self.cfg.path();
        let current = match self.client.get(&path).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => {
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace},
                    "spec": self.spec(&now, &now, 0),
                });
                let list = format!("/apis/coordination.k8s.io/v1/namespaces/{}/leases", self.cfg.namespace);
                return match self.client.create(&list, &lease).await {
                    Ok(created) => {
                        self.observe(&created);
                        Ok(true)
                    }
                    Err(e) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        self.observe(&current);
        let spec = &current["spec"];
        let holder = spec["holderIdentity"].as_str().unwrap_or("");
        let ours = holder == self.cfg.identity;
        if !holder.is_empty() && !ours {
            let duration = spec["leaseDurationSeconds"]
                .as_u64()
                .map(Duration::from_secs)
                .unwrap_or(self.cfg.lease_duration);
            let seen = self.observed.as_ref().map(|(_, t)| *t).unwrap_or_else(Instant::now);
            if seen + duration > Instant::now() {
                return Ok(false);
            }
        }
        let transitions = spec["leaseTransitions"].as_u64().unwrap_or(0);
        let (acquire, transitions) = if ours {
            (spec["acquireTime"].as_str().unwrap_or(&now).to_string(), transitions)
        } else {
            (now.clone(), transitions + 1)
        };
        let mut updated = current.clone();
        updated["spec"] = self.spec(&acquire, &now, transitions);
        match self.client.update(&path, &updated).await {
            Ok(v) => {
                self.observe(&v);
                Ok(true)
            }
            Err(e) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, acquire: &str, renew: &str, transitions: u64) -> Value {
        json!({
            "holderIdentity": self.cfg.identity,
            "leaseDurationSeconds": self.cfg.lease_duration.as_secs().max(1),
            "acquireTime": acquire,
            "renewTime": renew,
            "leaseTransitions": transitions,
        })
    }

    /// Remember the record and, when it changed, when we first saw it.
    fn observe(&mut self, lease: &Value) {
        let spec = lease["spec"].clone();
        match &self.observed {
            Some((old, _)) if *old == spec => {}
            _ => self.observed = Some((spec, Instant::now())),
        }
    }

    async fn became_leader_event(&self) {
        let Ok(lease) = self.client.get(&self.cfg.path()).await else {
            return;
        };
        let ev = event(
            &lease,
            "Lease",
            "coordination.k8s.io/v1",
            "Normal",
            "LeaderElection",
            &format!("{} became leader", self.cfg.identity),
            &self.cfg.component,
        );
        let path = format!("/api/v1/namespaces/{}/events", self.cfg.namespace);
        if let Err(e) = self.client.create(&path, &ev).await {
            tracing::debug!(error = %e, "cannot record the LeaderElection event");
        }
    }
}

/// A Go duration flag value (`15s`, `500ms`, `1m30s`), as kube's flags take them.
pub fn parse_flag_duration(s: &str) -> Result<Duration, String> {
    let ns = crate::storage::protobuf::encode::parse_go_duration(s)?;
    u64::try_from(ns)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {s:?}: negative"))
}

/// client-go's wait.Jitter(period, 1.2): up to 120 % more.
fn jitter(period: Duration) -> Duration {
    period + period.mul_f64(rand::random::<f64>() * 1.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_as_kube_does() {
        let mut c = Config::new("kube-system", "x", "test");
        assert!(c.validate().is_ok());
        c.renew_deadline = c.lease_duration;
        assert_eq!(
            c.validate().err().as_deref(),
            Some("leaseDuration must be greater than renewDeadline")
        );
        c.renew_deadline = Duration::from_secs(2);
        assert!(c.validate().err().is_some_and(|e| e.contains("retryPeriod")));
    }

    #[test]
    fn micro_time_has_microseconds() {
        let t = micro_now();
        assert_eq!(t.len(), "2006-01-02T15:04:05.000000Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
