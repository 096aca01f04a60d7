//! `raft-node`: owns one raft-rs `RawNode` and drives it on a dedicated thread.
//!
//! # Layout
//! - `node`: the Ready loop (tick, propose, persist, hand committed entries to the state
//!   machine, advance), ReadIndex batching, log compaction by snapshot.
//! - `transport`: raft messages between members over gRPC on the peer port.
//! - `persist`: the `LogPersist` trait the loop writes through (the `wal` crate in the
//!   server, an in-memory log in tests) and bootstrap/restore of raft's in-memory storage.
//!
//! The loop persists entries and hard state *before* anything is handed to the state
//! machine and before persisted messages leave, as raft-rs' Ready contract requires. All
//! proposals that arrive while one batch is being persisted share the next fsync: that is
//! the group commit.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod node;
mod persist;
pub mod tls;
pub mod transport;

pub use node::{Applied, Committed, NodeConfig, RaftHandle, RaftStatus};
pub use persist::{bootstrap_entries, LogPersist, MemPersist, Restored};
pub use raft::eraftpb;

/// What can go wrong between a caller and the raft loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no leader")]
    NoLeader,
    #[error("raft loop stopped")]
    Stopped,
    #[error("proposal dropped")]
    Dropped,
    #[error("request timed out")]
    Timeout,
    #[error("storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
}

pub type Result<T> = std::result::Result<T, Error>;
