//! Applies committed raft entries to the state machine, one at a time in log order, and
//! wakes the request that proposed each one.
//!
//! - `wait`: the table of proposals waiting for their entry to apply.
//! - `applier`: one match over the request kinds of `InternalRaftRequest`.
//! - `txn`: Range and Txn evaluation shared by the apply path and the read path.

mod applier;
pub mod txn;
mod wait;

pub use applier::{Alarms, Applier, Response};
pub use wait::{IdGen, Wait};
