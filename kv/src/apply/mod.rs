//! Applies committed raft entries to the state machine in log order, and wakes the request
//! that proposed each one once its effects are written (a run of plain puts shares one
//! backend write).
//!
//! - `wait`: the table of proposals waiting for their entry to apply.
//! - `applier`: one match over the request kinds of `InternalRaftRequest`.
//! - `group`: runs of plain puts applied as one backend write.
//! - `txn`: Range and Txn evaluation shared by the apply path and the read path.

mod applier;
mod group;
pub mod txn;
mod wait;

pub use applier::{Alarms, Applier, Response};
pub use group::Group;
pub use wait::{ApplyOutcome, IdGen, Wait};
