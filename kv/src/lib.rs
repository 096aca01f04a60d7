//! `kv`: an etcd-v3-compatible key-value store. Every write goes through Raft (`raft-node`)
//! and the etcd-layout WAL (`wal`) before it is applied to MVCC state in RocksDB.
//!
//! # Layout
//! - `config`: etcd's flags and environment variables.
//! - `member`: wiring, propose-and-wait, linearizable reads, bootstrap and restart.
//! - `apply`: committed entries → state machine, in log order; the wait table.
//! - `mvcc`: revisions, versioned keys, reads at a revision, write txns, compaction, hash.
//! - `watch`: the watch hub (synced/unsynced watchers, catch-up, progress).
//! - `lease`: the lessor (grants, key sets, expiry).
//! - `backend`: RocksDB column families (the only `rocksdb` import).
//! - `server`: gRPC services and HTTP endpoints (the only `tonic` users); `server::errors`
//!   maps `error::Error` to etcd's gRPC codes and messages.
//! - `metrics`: Prometheus series under etcd's names.
//!
//! Arrows point one way: server → member → apply → mvcc/lease/watch → backend.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod auth;
pub mod backend;
pub mod config;
pub mod error;
pub mod lease;
pub mod member;
pub mod metrics;
pub mod mvcc;
pub mod server;
pub mod tls;
pub mod watch;

pub use error::{Error, Result};
