//! Where the Ready loop writes: the `LogPersist` trait (hard state + entries, snapshot
//! markers, log release), an in-memory implementation for tests, and the bootstrap and
//! restore of raft-rs' `MemStorage` from what was persisted.

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Snapshot};
use raft::storage::MemStorage;

use crate::{Error, Result};

/// Durable storage of the raft log, as the WAL provides it.
pub trait LogPersist: Send + 'static {
    /// Appends entries and the hard state; fsyncs when `must_sync`.
    fn save(&mut self, hs: &HardState, entries: &[Entry], must_sync: bool) -> Result<()>;
    /// Saves a snapshot (the `.snap` file and the WAL marker), durably.
    fn save_snapshot(&mut self, snap: &Snapshot) -> Result<()>;
    /// The log up to `index` is covered by a durable snapshot: older segments may go.
    fn release_to(&mut self, index: u64) -> Result<()>;
}

/// What a restart found on disk.
#[derive(Default, Clone)]
pub struct Restored {
    pub snapshot: Option<Snapshot>,
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

/// An in-memory log for tests.
#[derive(Default)]
pub struct MemPersist {
    pub saved: Restored,
    pub syncs: usize,
}

impl LogPersist for MemPersist {
    fn save(&mut self, hs: &HardState, entries: &[Entry], must_sync: bool) -> Result<()> {
        if let Some(first) = entries.first() {
            self.saved.entries.retain(|e| e.index < first.index);
            self.saved.entries.extend_from_slice(entries);
        }
        self.saved.hard_state = hs.clone();
        if must_sync {
            self.syncs += 1;
        }
        Ok(())
    }
    fn save_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        self.saved.snapshot = Some(snap.clone());
        Ok(())
    }
    fn release_to(&mut self, index: u64) -> Result<()> {
        self.saved.entries.retain(|e| e.index > index);
        Ok(())
    }
}

/// The first entries of a new cluster: one AddNode conf change per initial member at term 1,
/// all committed (as etcd's `StartNode` does), so membership is in the log from the start.
pub fn bootstrap_entries(members: &[u64]) -> (HardState, Vec<Entry>) {
    let mut entries = Vec::with_capacity(members.len());
    for (i, id) in members.iter().enumerate() {
        let mut cc = ConfChange::default();
        cc.set_change_type(ConfChangeType::AddNode);
        cc.node_id = *id;
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        e.term = 1;
        e.index = i as u64 + 1;
        e.data = cc.write_to_bytes().unwrap_or_default().into();
        entries.push(e);
    }
    let hs = HardState {
        term: 1,
        commit: entries.len() as u64,
        ..Default::default()
    };
    (hs, entries)
}

/// Membership after the snapshot and every committed conf change in `entries`.
pub fn conf_state_of(restored: &Restored) -> Result<ConfState> {
    let mut voters: Vec<u64> = Vec::new();
    let mut learners: Vec<u64> = Vec::new();
    if let Some(s) = &restored.snapshot {
        let cs = s.get_metadata().get_conf_state();
        voters = cs.voters.clone();
        learners = cs.learners.clone();
    }
    let commit = restored.hard_state.commit;
    for e in restored.entries.iter().filter(|e| e.index <= commit) {
        if e.get_entry_type() != EntryType::EntryConfChange {
            continue;
        }
        let cc = ConfChange::parse_from_bytes(&e.data)
            .map_err(|err| Error::Storage(format!("conf change at index {}: {err}", e.index)))?;
        let id = cc.node_id;
        voters.retain(|v| *v != id);
        learners.retain(|v| *v != id);
        match cc.get_change_type() {
            ConfChangeType::AddNode => voters.push(id),
            ConfChangeType::AddLearnerNode => learners.push(id),
            ConfChangeType::RemoveNode => {}
        }
    }
    Ok(ConfState {
        voters,
        learners,
        ..Default::default()
    })
}

/// Builds raft's in-memory storage from what was persisted.
pub fn restore_storage(restored: &Restored) -> Result<MemStorage> {
    let storage = MemStorage::new();
    let cs = conf_state_of(restored)?;
    let mut w = storage.wl();
    if let Some(s) = &restored.snapshot {
        w.apply_snapshot(s.clone())
            .map_err(|e| Error::Storage(format!("apply snapshot: {e}")))?;
    }
    let snap_index = restored.snapshot.as_ref().map(|s| s.get_metadata().index).unwrap_or(0);
    let ents: Vec<Entry> = restored
        .entries
        .iter()
        .filter(|e| e.index > snap_index)
        .cloned()
        .collect();
    if !ents.is_empty() {
        w.append(&ents).map_err(|e| Error::Storage(format!("append: {e}")))?;
    }
    let mut hs = restored.hard_state.clone();
    drop(w);
    let last = raft::Storage::last_index(&storage).map_err(|e| Error::Storage(e.to_string()))?;
    let mut w = storage.wl();
    if hs.commit > last {
        hs.commit = last;
    }
    w.set_hardstate(hs);
    w.set_conf_state(cs);
    drop(w);
    Ok(storage)
}
