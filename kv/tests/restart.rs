//! The `kv` binary across restarts: with a small `--snapshot-count` it writes `.snap` files
//! and replays only the WAL after the newest one; SIGKILL loses no acknowledged write, and the
//! revision, keys and compaction point continue.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::etcdserverpb::{kv_client::KvClient, CompactionRequest, PutRequest, RangeRequest};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(data: &Path, port: u16, peer: u16, extra: &[&str]) -> Proc {
    let client = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{peer}");
    let child = Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(["--name", "r", "--data-dir"])
        .arg(data)
        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("r={peer}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kv");
    Proc(child)
}

async fn connect(port: u16) -> KvClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(ch) = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
        {
            let mut c = KvClient::new(ch);
            if c.range(RangeRequest {
                key: b"x".to_vec(),
                ..Default::default()
            })
            .await
            .is_ok()
            {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "kv did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn files_with(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_restarts_keep_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (port, peer) = (free_port(), free_port());
    let args = ["--snapshot-count", "100", "--max-snapshots", "2"];
    let mut p = spawn(&data, port, peer, &args);
    let mut c = connect(port).await;
    let mut last_rev = 0;
    for i in 0..450 {
        let r = c
            .put(PutRequest {
                key: format!("key/{i:04}").into_bytes(),
                value: format!("v{i}").into_bytes(),
                ..Default::default()
            })
            .await
            .expect("put")
            .into_inner();
        last_rev = r.header.expect("header").revision;
    }
    c.compact(CompactionRequest {
        revision: last_rev - 100,
        physical: true,
    })
    .await
    .expect("compact");
    let snap_dir = data.join("member/snap");
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_with(&snap_dir, ".snap") == 0 {
        assert!(
            Instant::now() < deadline,
            "no .snap file after 450 entries at --snapshot-count 100"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(files_with(&snap_dir, ".snap") <= 2, "--max-snapshots 2 is kept");
    assert!(files_with(&data.join("member/wal"), ".wal") >= 1);

    // SIGKILL, then restart on the same data dir.
    drop(p);
    p = spawn(&data, port, peer, &args);
    let mut c = connect(port).await;
    let r = c
        .range(RangeRequest {
            key: b"key/".to_vec(),
            range_end: b"key0".to_vec(),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(r.count, 450, "every acknowledged key survives");
    assert_eq!(r.header.expect("header").revision, last_rev, "revision survives");
    let old = c
        .range(RangeRequest {
            key: b"key/0001".to_vec(),
            revision: last_rev - 101,
            ..Default::default()
        })
        .await
        .expect_err("compacted revision stays compacted");
    assert_eq!(old.message(), "etcdserver: mvcc: required revision has been compacted");
    let next = c
        .put(PutRequest {
            key: b"after".to_vec(),
            value: b"restart".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put after restart")
        .into_inner();
    assert_eq!(
        next.header.expect("header").revision,
        last_rev + 1,
        "revisions continue"
    );
    drop(p);
}

#[test]
fn bad_flags_are_one_line_and_exit_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_kv"))
        .arg("--no-such-flag")
        .output()
        .expect("run kv");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(["--initial-cluster-state", "sideways"])
        .output()
        .expect("run kv");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("initial-cluster-state"));
}
