//! The client port's HTTP endpoints, as etcd 3.4 serves them next to gRPC: `/health`
//! (200, `{"health":"true"}`), `/version` (`etcdserver`/`etcdcluster` semver strings) and
//! `/metrics` (Prometheus text with etcd's metric names). Run against etcd and kv.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cluster_tests::{bounded, http, Kind, Server, ServerOpts};

fn is_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok())
}

async fn endpoints(kind: Kind) -> Result<()> {
    let server = Server::start(kind, ServerOpts::default()).await?;
    let ep = server.endpoint();
    let mut problems = Vec::new();

    let (code, body) = http::get(&ep, "/health")?;
    let health: serde_json::Value = serde_json::from_str(&body).with_context(|| format!("/health body {body:?}"))?;
    if code != 200 || health["health"] != "true" {
        problems.push(format!(
            "/health: want 200 {{\"health\":\"true\"}}, got {code} {body:?}"
        ));
    }

    let (code, body) = http::get(&ep, "/version")?;
    let version: serde_json::Value = serde_json::from_str(&body).with_context(|| format!("/version body {body:?}"))?;
    let server_v = version["etcdserver"].as_str().unwrap_or("");
    let cluster_v = version["etcdcluster"].as_str().unwrap_or("");
    if code != 200 || !is_semver(server_v) || !is_semver(cluster_v) {
        problems.push(format!(
            "/version: want 200 with semver etcdserver/etcdcluster, got {code} {body:?}"
        ));
    }

    let (code, body) = http::get(&ep, "/metrics")?;
    // The metrics etcd's own alerting rules (etcd-mixin) use.
    for metric in [
        "etcd_server_has_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_failed_total",
        "etcd_server_proposals_committed_total",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_disk_wal_fsync_duration_seconds_bucket",
        "etcd_disk_backend_commit_duration_seconds_bucket",
    ] {
        if code != 200 || !body.lines().any(|l| l.starts_with(metric)) {
            problems.push(format!("/metrics: status {code}, metric {metric} missing"));
        }
    }
    ensure!(problems.is_empty(), "{}:\n- {}", kind.label(), problems.join("\n- "));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_etcd() {
    bounded(Duration::from_secs(30), endpoints(Kind::Etcd))
        .await
        .expect("etcd HTTP endpoints");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_kv() {
    bounded(Duration::from_secs(30), endpoints(Kind::Kv))
        .await
        .expect("kv HTTP endpoints");
}
