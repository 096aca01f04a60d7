//! The raft log's durable home: `raft_node::LogPersist` over the etcd-layout WAL and the
//! `.snap` files.

use raft_node::eraftpb::{Entry, HardState, Snapshot};
use raft_node::LogPersist;
use wal::{Snapshotter, Wal, WalSnapshot};

pub struct WalPersist {
    pub wal: Wal,
    pub snapshotter: Snapshotter,
    pub max_snapshots: usize,
}

fn storage_err(e: impl std::fmt::Display) -> raft_node::Error {
    raft_node::Error::Storage(e.to_string())
}

impl LogPersist for WalPersist {
    fn save(&mut self, hs: &HardState, entries: &[Entry], _must_sync: bool) -> raft_node::Result<()> {
        // The WAL decides itself (raft's MustSync rule) whether this save needs an fsync.
        self.wal.save(hs, entries).map_err(storage_err)
    }

    fn save_snapshot(&mut self, snap: &Snapshot) -> raft_node::Result<()> {
        // The .snap file first, then the WAL marker that points at it (as etcd orders them).
        self.snapshotter.save(snap).map_err(storage_err)?;
        let meta = snap.get_metadata();
        self.wal
            .save_snapshot(&WalSnapshot {
                index: meta.index,
                term: meta.term,
                conf_state: Some(meta.get_conf_state().clone()),
            })
            .map_err(storage_err)
    }

    fn release_to(&mut self, index: u64) -> raft_node::Result<()> {
        self.wal.release_to(index).map_err(storage_err)?;
        if self.max_snapshots > 0 {
            self.snapshotter.purge(self.max_snapshots).map_err(storage_err)?;
        }
        Ok(())
    }
}
