//! The seeds' TLS setup end to end (see `scripts/tls_cluster.sh`): openssl certificates, a
//! 3-member cluster with client and peer certificate checks, etcdctl and curl on every
//! member, a foreign-CA member kept out, common-name auth.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn tls_cluster_as_in_the_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let base = {
        // Ten consecutive free ports from a random base (peer ports base+1..3, clients base+11..13).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        p.saturating_sub(20).max(20000)
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/tls_cluster.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_kv"))
        .arg(dir.path())
        .arg(base.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("PASS"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
