//! The storage backend: a RocksDB database under `member/snap/db` with one column family per
//! concern. Only `rocks.rs` imports `rocksdb`; everything above speaks in `Cf`, `Batch` and
//! `RawIter`.

pub mod layout;
mod rocks;

pub use rocks::{Backend, Batch, RawIter};

/// The column families of the backend, each with one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cf {
    /// Versioned keys: escaped user key + inverted revision → flag + marshalled `KeyValue`.
    Key,
    /// Revision → flag + user key: history in revision order (watch replay, compaction, hash).
    Rev,
    /// Store-wide counters: consistent index, current and compacted revision, term.
    Meta,
    /// Lease ID → marshalled lease record.
    Lease,
    /// Lease ID + user key → empty: which keys each lease holds.
    LeaseKeys,
    /// Auth users, roles and settings.
    Auth,
    /// Active alarms.
    Alarm,
}

impl Cf {
    pub const ALL: [Cf; 7] = [
        Cf::Key,
        Cf::Rev,
        Cf::Meta,
        Cf::Lease,
        Cf::LeaseKeys,
        Cf::Auth,
        Cf::Alarm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cf::Key => "key",
            Cf::Rev => "rev",
            Cf::Meta => "meta",
            Cf::Lease => "lease",
            Cf::LeaseKeys => "lease_keys",
            Cf::Auth => "auth",
            Cf::Alarm => "alarm",
        }
    }
}

/// A backend failure; always carries RocksDB's own message.
#[derive(Debug, thiserror::Error)]
#[error("backend: {0}")]
pub struct BackendError(pub String);

pub type Result<T> = std::result::Result<T, BackendError>;
