//! Smoke test: `kv-bench put --total 200 --json` against a real etcd 3.4.23 started here
//! (free 127.0.0.1 ports, fresh data dir, killed on drop) must report 200 successful puts.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use benches::server::{Cluster, Kind};
use benches::stats::Report;

const ETCD: &str = "/usr/bin/etcd";

#[test]
fn put_200_against_real_etcd() {
    assert!(
        Path::new(ETCD).exists(),
        "{ETCD} is missing: install Debian's etcd-server (scripts/install-deps.sh)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    // A renamed copy, so a concurrent `pkill -x etcd` (scripts/install-deps.sh) cannot stop it.
    let bin = dir.path().join("smoke-etcd");
    std::fs::copy(ETCD, &bin).expect("copy etcd");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut etcd = Cluster::start(Kind::Etcd, &bin, 1, &dir.path().join("data")).expect("start etcd");
    rt.block_on(etcd.wait_ready(Duration::from_secs(15)))
        .expect("etcd ready");
    let endpoint = etcd.endpoints().join(",");

    let out = Command::new(env!("CARGO_BIN_EXE_kv-bench"))
        .args([
            "--endpoints",
            &endpoint,
            "--clients",
            "4",
            "--conns",
            "2",
            "--max-time",
            "15s",
            "--json",
            "put",
            "--total",
            "200",
        ])
        .output()
        .expect("run kv-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kv-bench failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_str(&stdout).expect("kv-bench --json prints a report");
    assert_eq!(report.workload, "put");
    assert_eq!(report.ok, 200, "report: {report:?}");
    assert_eq!(report.errors, 0, "errors: {:?}", report.error_kinds);
    assert!(report.throughput > 0.0 && report.latency_ms.p50 > 0.0);
    assert!(
        !stdout.contains('\u{1b}'),
        "no progress bar or escape codes when stdout/stderr is not a terminal"
    );
}
