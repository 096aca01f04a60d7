//! Black-box, multi-process test harness for `kv`: spawns real server processes (kv, or
//! Debian's etcd 3.4.23 as the reference) with etcd's flags on free 127.0.0.1 ports, drives
//! them with etcdctl, python `etcd3` and the `proto` gRPC client, and crashes/pauses/restarts
//! them. Depends only on `proto` and spawned binaries.
//!
//! # Layout
//! - [`binary`]: where the kv, etcd, etcdctl and python binaries are found (`KV_BIN`, ...).
//! - [`ports`]: free, never-reused loopback ports.
//! - [`server`]: [`Server`] (start, wait ready, stop, SIGKILL, SIGSTOP/SIGCONT, restart on
//!   the same data dir, kill on drop).
//! - [`cluster`]: [`Cluster`] (several members; leader, revisions, HashKV agreement, joining
//!   members).
//! - [`signal`]: safe signal delivery; [`run`]: bounded client processes with captured output.
//! - [`etcdctl`]: etcdctl runner; [`normalize`]: what may rightly differ between servers;
//!   [`interop`]: table-driven etcdctl comparison of a subject against the reference.
//! - [`client`]: gRPC helpers (put, range, watch collection, [`client::WatchSession`]) with
//!   timeouts.
//! - [`http`]: minimal HTTP GET for `/health`, `/version`, `/metrics`.
//! - [`history`]: the crash-test model (acknowledged writes vs stored data vs watch replay).
//!
//! Tests live in `tests/`: `etcdctl_interop.rs`, `watch_grpc.rs`, `python_client.rs`,
//! `crash.rs`, `http_endpoints.rs`; clusters: `cluster.rs` (smoke), `failover.rs` (leader
//! SIGKILL, restart all, 5 members), `partition.rs` (a cut-off member; uses the `jepsen`
//! crate's network namespaces), `membership.rs` (etcdctl member add/remove/promote),
//! `any_member.rs` (etcdctl and python etcd3 through every member).

pub mod binary;
pub mod client;
pub mod cluster;
pub mod etcdctl;
pub mod history;
pub mod http;
pub mod interop;
pub mod normalize;
pub mod ports;
pub mod run;
pub mod server;
pub mod signal;

pub use binary::Kind;
pub use cluster::Cluster;
pub use server::{Server, ServerOpts};

/// Runs a test body with an overall deadline, so a hung server fails the test instead of
/// hanging the suite.
pub async fn bounded<T>(
    limit: std::time::Duration,
    body: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, body).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!("test body exceeded its {limit:?} deadline"),
    }
}
