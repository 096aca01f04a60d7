//! Smoke tests: `kv-bench put --json` against a real etcd 3.4.23 started here (free
//! 127.0.0.1 ports, fresh data dir, killed on drop), over plain http and over TLS with a
//! client certificate, must report every put successful.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use benches::certs;
use benches::server::{Cluster, Kind, StartOpts};
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

#[test]
fn put_over_tls_with_client_cert_against_real_etcd() {
    assert!(Path::new(ETCD).exists(), "{ETCD} is missing");
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("smoke-etcd-tls");
    std::fs::copy(ETCD, &bin).expect("copy etcd");
    let files = certs::generate(&dir.path().join("certs")).expect("openssl certificates");
    let opts = StartOpts {
        tls: Some(files.server_tls().expect("server TLS")),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut etcd = Cluster::start_with(Kind::Etcd, &bin, 1, &dir.path().join("data"), &opts).expect("start etcd");
    rt.block_on(etcd.wait_ready(Duration::from_secs(15)))
        .expect("etcd ready over TLS");
    let https = etcd.endpoints().join(",");
    assert!(https.starts_with("https://127.0.0.1:"), "{https}");
    let (ca, cert, key) = (
        files.ca_cert.display().to_string(),
        files.client_cert.display().to_string(),
        files.client_key.display().to_string(),
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["--clients", "4", "--conns", "2", "--max-time", "15s", "--json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["put", "--total", "50"]);
        Command::new(env!("CARGO_BIN_EXE_kv-bench"))
            .args(&args)
            .output()
            .expect("run kv-bench")
    };
    // host:port with --cacert means https.
    let bare = https.trim_start_matches("https://").to_string();
    let out = run(&["--endpoints", &bare, "--cacert", &ca, "--cert", &cert, "--key", &key]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kv-bench over TLS failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_str(&stdout).expect("kv-bench --json prints a report");
    assert_eq!(report.ok, 50, "report: {report:?}");
    assert_eq!(report.errors, 0, "errors: {:?}", report.error_kinds);

    // Without the client certificate the server refuses the handshake.
    let out = run(&["--endpoints", &https, "--cacert", &ca]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refused = !out.status.success()
        || serde_json::from_str::<Report>(&stdout)
            .map(|r| r.ok == 0)
            .unwrap_or(true);
    assert!(refused, "a client without a certificate got through: {stdout}");
}
