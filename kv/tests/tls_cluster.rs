//! The seeds' TLS setup end to end (see `scripts/tls_cluster.sh`): openssl certificates, a
//! 3-member cluster with client and peer certificate checks, etcdctl and curl on every
//! member, a foreign-CA member kept out, common-name auth.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn tls_cluster_as_in_the_seeds() {
    let dir = tempfile::tempdir().unwrap();
    // Seven distinct free ports, all held until chosen (peers 1-3, clients 1-3, apiserver).
    let holders: Vec<std::net::TcpListener> = (0..7)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<String> = holders
        .iter()
        .map(|l| l.local_addr().unwrap().port().to_string())
        .collect();
    drop(holders);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/tls_cluster.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_kv"))
        .arg(dir.path())
        .args(&ports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("PASS"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
