//! jepsen: a linearizability, watch and durability harness with fault injection for any
//! etcd-v3 endpoint; a black box that speaks only the wire API from `proto` and spawns member
//! binaries (etcd or kv, same flags).
//!
//! Layout (a run flows top to bottom; see [`run`]):
//! - [`cluster`]: members as processes in private network namespaces (`netns`), loopback
//!   forwarders to their client ports, SIGKILL / SIGSTOP / restart (`process`).
//! - [`workload`]: register clients (get, put, CAS on value or mod_revision, delete, range),
//!   stale-read anomaly clients, watchers with resumption.
//! - [`nemesis`]: the fault schedule (kill, pause, partition; random member or leader).
//! - [`history`]: recorded ops (invoke / ok / fail / info, monotonic ns) and faults.
//! - [`checker`]: per-key linearizability (Wing–Gong–Lowe with memoisation), watch guarantees
//!   against a reference log, durability of acknowledged writes and final member states.
//! - [`report`]: summary (ops, faults, latency percentiles, verdicts), files, SVG timeline.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod report;
pub mod run;
pub mod workload;
