//! `benches`: `kv-bench`, an etcd-`benchmark`-style load tool for any etcd v3 endpoint, the
//! `compare` driver that runs the same workloads against real etcd and `kv`, the
//! `api-compare` driver that runs Kubernetes API workloads against a stock kube-apiserver
//! and this project's `apiserver`, and (under `benches/`) criterion micro-benchmarks of kv's
//! hot paths.
//!
//! # Layout
//! - `stats`: latency histograms (hdrhistogram, µs), error tallies, the printed/JSON report.
//! - `load`: connections (plain or TLS with client certificates) and the closed-loop (or
//!   rate-limited) request driver with its progress bar; every run is bounded by a request
//!   count and a wall-clock limit.
//! - `workloads`: put, range, txn-put, watch-latency/fanout, lease-keepalive, mixed.
//! - `server`: spawning etcd or kv members on free 127.0.0.1 ports (killed on drop),
//!   readiness, peak RSS (`VmHWM`), data-dir size, restart timing.
//! - `compare`: etcd-vs-kv alternation, the fsync probe, the workload sets (standard, TLS).
//! - `failover`: leader SIGKILL under write load, timed to the first write after it.
//! - `certs`: a throwaway CA, server and client certificate (openssl) for TLS runs.
//! - `report`: per-configuration reports and their spliced sections of `BENCHMARKS.md`.
//! - `plot`: the hand-written SVG of latency distributions.
//! - `api_compare`: stock kube-apiserver vs `apiserver` on fresh stores, alternating; its
//!   rows (`api_workloads`), HTTPS/h2 client (`api_client`), processes (`api_server`) and
//!   report (`api_report`).
//!
//! The servers are black boxes: only their wire APIs (etcd gRPC, Kubernetes HTTP), their
//! flags and `/proc` are used.

pub mod api_client;
pub mod api_compare;
mod api_report;
pub mod api_server;
pub mod api_workloads;
pub mod certs;
pub mod compare;
pub mod failover;
pub mod load;
pub mod plot;
pub mod report;
pub mod server;
pub mod stats;
pub mod workloads;
