//! Prometheus metrics under etcd's names, rendered on `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub has_leader: IntGauge,
    pub is_leader: IntGauge,
    pub leader_changes: IntGauge,
    pub proposals_committed: IntGauge,
    pub proposals_applied: IntGauge,
    pub proposals_pending: IntGauge,
    pub proposals_failed: IntCounter,
    pub wal_fsync: Histogram,
    pub backend_commit: Histogram,
    pub db_size: IntGauge,
    pub db_size_in_use: IntGauge,
    pub health_success: IntCounter,
    pub health_failures: IntCounter,
    pub mvcc_ops: IntCounterVec,
    pub watchers: IntGauge,
    pub server_version: IntGaugeVec,
}

fn buckets() -> Vec<f64> {
    // etcd: ExponentialBuckets(0.001, 2, 14)
    (0..14).map(|i| 0.001 * 2f64.powi(i)).collect()
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let g = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let m = IntGauge::new(name, help)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let c = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let m = IntCounter::new(name, help)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let h = |name: &str, help: &str| -> Result<Histogram, prometheus::Error> {
            let m = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets()))?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let mvcc_ops = IntCounterVec::new(
            Opts::new("etcd_mvcc_requests_total", "Total number of MVCC requests by kind."),
            &["kind"],
        )?;
        registry.register(Box::new(mvcc_ops.clone()))?;
        let server_version = IntGaugeVec::new(
            Opts::new(
                "etcd_server_version",
                "Which version is running. 1 for 'server_version' label with current version.",
            ),
            &["server_version"],
        )?;
        registry.register(Box::new(server_version.clone()))?;
        Ok(Metrics {
            has_leader: g(
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
            )?,
            is_leader: g(
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            )?,
            leader_changes: g(
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
            )?,
            proposals_committed: g(
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
            )?,
            proposals_applied: g(
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
            )?,
            proposals_pending: g(
                "etcd_server_proposals_pending",
                "The current number of pending proposals to commit.",
            )?,
            proposals_failed: c(
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
            )?,
            wal_fsync: h(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
            )?,
            backend_commit: h(
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
            )?,
            db_size: g(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            )?,
            db_size_in_use: g(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
            )?,
            health_success: c(
                "etcd_server_health_success",
                "The total number of successful health checks",
            )?,
            health_failures: c(
                "etcd_server_health_failures",
                "The total number of failed health checks",
            )?,
            mvcc_ops,
            watchers: g("etcd_debugging_mvcc_watcher_total", "Total number of watchers.")?,
            server_version,
            registry,
        })
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
