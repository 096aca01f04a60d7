//! Python `etcd3` client (pip package python3-etcd3) against the server: the script
//! `scripts/etcd3_client.py` does put/get/range/delete/txn/watch/lease/compaction and
//! asserts exact results; run against real etcd (proves the script) and against kv.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use cluster_tests::{binary, bounded, run, Kind, Server, ServerOpts};

async fn python_suite(kind: Kind) {
    let out = bounded(Duration::from_secs(55), async {
        let server = Server::start(kind, ServerOpts::default())
            .await
            .context("starting server")?;
        let mut cmd = Command::new(binary::python());
        cmd.arg(binary::script("etcd3_client.py"))
            .arg("--endpoint")
            .arg(server.endpoint());
        let out = tokio::task::spawn_blocking(move || run::run(cmd, None, Duration::from_secs(45)))
            .await
            .context("join")?
            .context("running python (set PYTHON=/path/to/python3 if python3 is not on PATH)")?;
        drop(server);
        Ok(out)
    })
    .await
    .expect("python harness");
    assert!(
        out.code == Some(0) && out.stdout.contains("PASS"),
        "python etcd3 suite against {} failed (exit 3 = `etcd3` not importable: pip install python3-etcd3)\n{out}",
        kind.label()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_etcd3_against_etcd() {
    python_suite(Kind::Etcd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_etcd3_against_kv() {
    python_suite(Kind::Kv).await;
}
