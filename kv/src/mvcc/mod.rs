//! Multi-version concurrency control over the backend: every write or whole txn creates one
//! main revision (sub-revisions order the writes inside it), every key keeps its versions
//! until compaction, and reads name the revision they see.
//!
//! There is no in-memory index of versions: the `key` column family orders versions by user
//! key, newest first, so a read at any revision is one seek per key and a restart reads three
//! counters. Writes consult a bounded cache of each key's newest metadata (`latest`) instead
//! of the backend. One writer (the apply loop) at a time; any number of concurrent readers.

mod compact;
mod hash;
mod history;
pub mod keys;
mod latest;
mod read;
mod txn;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use prost::Message;
use proto::mvccpb::KeyValue;

use crate::backend::{Backend, Cf};
use crate::error::{Error, Result};

pub use history::HistoryEvent;
use latest::LatestIndex;
pub use read::RangeResult;
pub use txn::{Change, Staged, WriteTxn};

/// A point in the store's history: `main` counts writes, `sub` orders the writes inside one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
const META_CURRENT_REV: &[u8] = b"current_rev";
const META_COMPACT_REV: &[u8] = b"finished_compact_rev";
const META_TERM: &[u8] = b"term";

/// Range end semantics shared by Range, DeleteRange, Watch and Compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly one key (`range_end` empty).
    Single(Vec<u8>),
    /// `[start, end)`; `end == None` means every key ≥ start (`range_end == "\0"`).
    Span(Vec<u8>, Option<Vec<u8>>),
}

impl KeyRange {
    pub fn new(key: &[u8], range_end: &[u8]) -> KeyRange {
        if range_end.is_empty() {
            KeyRange::Single(key.to_vec())
        } else if range_end == [0] {
            KeyRange::Span(key.to_vec(), None)
        } else {
            KeyRange::Span(key.to_vec(), Some(range_end.to_vec()))
        }
    }

    pub fn start(&self) -> &[u8] {
        match self {
            KeyRange::Single(k) | KeyRange::Span(k, _) => k,
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => k == key,
            KeyRange::Span(s, None) => key >= s.as_slice(),
            KeyRange::Span(s, Some(e)) => key >= s.as_slice() && key < e.as_slice(),
        }
    }

    /// True once `key` (ascending) is past the range.
    pub fn is_past(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => key > k.as_slice(),
            KeyRange::Span(_, None) => false,
            KeyRange::Span(_, Some(e)) => key >= e.as_slice(),
        }
    }

    /// Whether two ranges share a key (txn duplicate-key checks).
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        let (a0, a1) = self.bounds();
        let (b0, b1) = other.bounds();
        let a_before_b_end = match &b1 {
            Some(e) => a0.as_slice() < e.as_slice(),
            None => true,
        };
        let b_before_a_end = match &a1 {
            Some(e) => b0.as_slice() < e.as_slice(),
            None => true,
        };
        a_before_b_end && b_before_a_end
    }

    /// Half-open bounds: a single key `k` is `[k, k\0)`.
    fn bounds(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            KeyRange::Single(k) => {
                let mut e = k.clone();
                e.push(0);
                (k.clone(), Some(e))
            }
            KeyRange::Span(s, e) => (s.clone(), e.clone()),
        }
    }
}

/// The MVCC key-value store.
pub struct KvStore {
    backend: ArcSwap<Backend>,
    current: AtomicI64,
    compacted: AtomicI64,
    consistent_index: AtomicU64,
    /// Each recently written key's newest version, for puts (see `latest`).
    latest: LatestIndex,
}

fn read_u64(backend: &Backend, key: &[u8]) -> Result<Option<u64>> {
    match backend.get(Cf::Meta, key)? {
        None => Ok(None),
        Some(v) => {
            let arr: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt(format!("meta {}", String::from_utf8_lossy(key))))?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

impl KvStore {
    /// Opens the store: reads the counters, nothing else.
    pub fn open(backend: Arc<Backend>) -> Result<KvStore> {
        let current = read_u64(&backend, META_CURRENT_REV)?.unwrap_or(1) as i64;
        let compacted = read_u64(&backend, META_COMPACT_REV)?.unwrap_or(0) as i64;
        let ci = read_u64(&backend, META_CONSISTENT_INDEX)?.unwrap_or(0);
        Ok(KvStore {
            backend: ArcSwap::new(backend),
            current: AtomicI64::new(current),
            compacted: AtomicI64::new(compacted),
            consistent_index: AtomicU64::new(ci),
            latest: LatestIndex::default(),
        })
    }

    /// The backend as of now (a snapshot install may replace it).
    pub fn backend(&self) -> Arc<Backend> {
        self.backend.load_full()
    }

    /// Switches to another backend (an installed snapshot) and reloads the counters from it.
    /// Readers that already hold the old one finish on it.
    pub fn replace_backend(&self, backend: Arc<Backend>) -> Result<()> {
        let current = read_u64(&backend, META_CURRENT_REV)?.unwrap_or(1) as i64;
        let compacted = read_u64(&backend, META_COMPACT_REV)?.unwrap_or(0) as i64;
        let ci = read_u64(&backend, META_CONSISTENT_INDEX)?.unwrap_or(0);
        self.backend.store(backend);
        self.latest.clear();
        self.compacted.store(compacted, Ordering::Release);
        self.consistent_index.store(ci, Ordering::Release);
        self.current.store(current, Ordering::Release);
        Ok(())
    }

    /// The newest revision, visible to reads.
    pub fn current_revision(&self) -> i64 {
        self.current.load(Ordering::Acquire)
    }

    /// The revision of the last finished compaction (0 = none).
    pub fn compact_revision(&self) -> i64 {
        self.compacted.load(Ordering::Acquire)
    }

    /// The last raft index whose effects are in the backend.
    pub fn consistent_index(&self) -> u64 {
        self.consistent_index.load(Ordering::Acquire)
    }

    /// The raft term saved with the last applied entry.
    pub fn saved_term(&self) -> Result<u64> {
        Ok(read_u64(&self.backend(), META_TERM)?.unwrap_or(0))
    }

    /// Starts the next write; the caller commits it with the raft index it applies.
    pub fn write(&self) -> WriteTxn<'_> {
        WriteTxn::new(self)
    }

    /// Checks a requested read revision (≤ 0 = latest) and resolves it.
    pub fn resolve_rev(&self, rev: i64) -> Result<i64> {
        let cur = self.current_revision();
        if rev <= 0 {
            return Ok(cur);
        }
        if rev > cur {
            return Err(Error::FutureRev);
        }
        if rev < self.compact_revision() {
            return Err(Error::Compacted);
        }
        Ok(rev)
    }

    /// Records an applied raft entry that changed nothing in the keyspace.
    pub fn mark_applied(&self, index: u64, term: u64) -> Result<()> {
        let mut b = crate::backend::Batch::default();
        put_meta_index(&mut b, index, term);
        self.backend().write(b)?;
        self.consistent_index.store(index, Ordering::Release);
        Ok(())
    }

    fn publish(&self, rev: i64, index: u64) {
        self.consistent_index.store(index, Ordering::Release);
        self.current.store(rev, Ordering::Release);
    }
}

fn put_meta_index(b: &mut crate::backend::Batch, index: u64, term: u64) {
    b.put(Cf::Meta, META_CONSISTENT_INDEX, index.to_be_bytes().to_vec());
    b.put(Cf::Meta, META_TERM, term.to_be_bytes().to_vec());
}

/// Decodes a `key` CF value into (is_tombstone, KeyValue).
fn decode_value(v: &[u8]) -> Result<(bool, KeyValue)> {
    let (flag, body) = v
        .split_first()
        .ok_or_else(|| Error::Corrupt("empty version value".into()))?;
    let kv = KeyValue::decode(body).map_err(|e| Error::Corrupt(format!("version value: {e}")))?;
    Ok((*flag == keys::TOMBSTONE, kv))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub fn open_temp() -> (tempfile::TempDir, KvStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Arc::new(Backend::open(&dir.path().join("db")).expect("open backend"));
        let store = KvStore::open(backend).expect("open store");
        (dir, store)
    }

    pub fn put(store: &KvStore, key: &str, val: &str) -> i64 {
        let mut t = store.write();
        t.put(key.as_bytes(), val.as_bytes(), 0).expect("put");
        let idx = store.consistent_index() + 1;
        t.commit(idx, 1).expect("commit").0
    }

    pub fn del(store: &KvStore, key: &str, end: &str) -> i64 {
        let mut t = store.write();
        t.delete_range(&KeyRange::new(key.as_bytes(), end.as_bytes()))
            .expect("delete");
        let idx = store.consistent_index() + 1;
        t.commit(idx, 1).expect("commit").0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_range_semantics() {
        let single = KeyRange::new(b"a", b"");
        assert!(single.contains(b"a") && !single.contains(b"ab"));
        let all = KeyRange::new(b"\0", b"\0");
        assert!(all.contains(b"zzz") && all.contains(b"\0"));
        let prefix = KeyRange::new(b"a", b"b");
        assert!(prefix.contains(b"a\xff") && !prefix.contains(b"b"));
        assert!(single.overlaps(&prefix));
        assert!(!KeyRange::new(b"b", b"").overlaps(&prefix));
        assert!(KeyRange::new(b"x", b"\0").overlaps(&KeyRange::new(b"z", b"")));
        assert!(!KeyRange::new(b"a", b"").overlaps(&KeyRange::new(b"a\0", b"")));
    }
}
