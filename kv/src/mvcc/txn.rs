//! One write transaction: puts and deletes at the next main revision, one sub-revision each,
//! reads that see the transaction's own writes, and an atomic commit together with the raft
//! index it applies.

use std::collections::BTreeMap;

use prost::Message;
use proto::mvccpb::KeyValue;

use super::latest::Latest;
use super::{keys, put_meta_index, KeyRange, KvStore, RangeResult, Revision, META_CURRENT_REV};
use crate::backend::{Batch, Cf};
use crate::error::{Error, Result};

/// One change made by a transaction, in order: what the watch hub turns into an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The new version; for a delete, only `key` and `mod_revision`.
    pub kv: KeyValue,
    /// The version it replaced.
    pub prev: Option<KeyValue>,
    pub deleted: bool,
    /// `prev` holds only the key, revisions, version and lease: its value was not read
    /// (the watch hub reads it for watchers that ask for prev_kv).
    pub prev_partial: bool,
}

/// A write in progress; nothing is visible to other readers until `commit`.
pub struct WriteTxn<'a> {
    store: &'a KvStore,
    rev: i64,
    sub: i64,
    batch: Batch,
    /// The state this transaction gave each key it wrote: the index of the put in
    /// `changes`, or None = deleted.
    overlay: BTreeMap<Vec<u8>, Option<usize>>,
    changes: Vec<Change>,
}

/// Lease key index entry: lease ID (BE) + user key.
pub(crate) fn lease_key(lease: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&(lease as u64).to_be_bytes());
    out.extend_from_slice(key);
    out
}

impl<'a> WriteTxn<'a> {
    pub(super) fn new(store: &'a KvStore) -> Self {
        WriteTxn {
            store,
            rev: store.current_revision() + 1,
            sub: 0,
            batch: Batch::default(),
            overlay: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    /// The revision this transaction writes at (if it writes anything).
    pub fn revision(&self) -> i64 {
        self.rev
    }

    /// The revision a reader of this transaction sees: its own writes once it has any.
    pub fn read_revision(&self) -> i64 {
        if self.changes.is_empty() {
            self.rev - 1
        } else {
            self.rev
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Extra writes to commit atomically with this transaction (lease and auth records).
    pub fn batch_mut(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// The version this transaction's put number `i` (in `changes`) wrote.
    fn own(&self, i: Option<usize>) -> Option<&KeyValue> {
        i.and_then(|i| self.changes.get(i)).map(|c| &c.kv)
    }

    /// The live value of `key` as this transaction sees it.
    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(self.own(*v).cloned());
        }
        self.store.get_at(key, self.rev - 1)
    }

    /// A read inside the transaction. `rev ≤ 0` reads the transaction's own view.
    pub fn range(&self, range: &KeyRange, rev: i64, limit: usize, count_only: bool) -> Result<RangeResult> {
        let own = self.read_revision();
        if rev > own {
            return Err(Error::FutureRev);
        }
        let touches = self.overlay.keys().any(|k| range.contains(k));
        if (rev > 0 && rev < self.rev) || !touches {
            let mut r = self
                .store
                .range(range, if rev > 0 { rev } else { self.rev - 1 }, limit, count_only)?;
            if rev <= 0 {
                r.rev = own;
            }
            return Ok(r);
        }
        if rev > 0 && rev < self.store.compact_revision() {
            return Err(Error::Compacted);
        }
        // Merge the stored keys with this transaction's writes.
        let base = self.store.range(range, self.rev - 1, 0, false)?;
        let mut merged: BTreeMap<Vec<u8>, KeyValue> = base.kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
        for (k, v) in self.overlay.range(range.start().to_vec()..) {
            if range.is_past(k) {
                break;
            }
            if !range.contains(k) {
                continue;
            }
            match self.own(*v) {
                Some(kv) => {
                    merged.insert(k.clone(), kv.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        let count = merged.len();
        let kvs = if count_only {
            Vec::new()
        } else {
            let take = if limit == 0 { count } else { limit.min(count) };
            merged.into_values().take(take).collect()
        };
        Ok(RangeResult { kvs, count, rev: own })
    }

    /// Puts `value` at `key` with `lease` (0 = none); returns the previous version.
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<Option<KeyValue>> {
        self.put_with(key, value, lease, true)
    }

    /// [`WriteTxn::put`]; without `full_prev` the previous version may come back without
    /// its value (from the store's cache of newest versions, no backend read).
    pub fn put_with(&mut self, key: &[u8], value: &[u8], lease: i64, full_prev: bool) -> Result<Option<KeyValue>> {
        let (prev, prev_partial) = self.prev_for_put(key, full_prev)?;
        let rev = Revision {
            main: self.rev,
            sub: self.sub,
        };
        let (create_revision, version) = match &prev {
            Some(p) => (p.create_revision, p.version + 1),
            None => (self.rev, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: self.rev,
            version,
            value: value.to_vec(),
            lease,
        };
        let mut val = Vec::with_capacity(1 + kv.encoded_len());
        val.push(keys::PUT);
        kv.encode(&mut val)
            .map_err(|e| Error::Backend(format!("encode: {e}")))?;
        self.batch.put(Cf::Key, keys::version_key(key, rev), val);
        let mut rv = vec![keys::PUT];
        rv.extend_from_slice(key);
        self.batch.put(Cf::Rev, keys::rev_key(rev).to_vec(), rv);
        let prev_lease = prev.as_ref().map(|p| p.lease).unwrap_or(0);
        if prev_lease != 0 && prev_lease != lease {
            self.batch.delete(Cf::LeaseKeys, lease_key(prev_lease, key));
        }
        if lease != 0 {
            self.batch.put(Cf::LeaseKeys, lease_key(lease, key), Vec::new());
        }
        self.sub += 1;
        self.overlay.insert(key.to_vec(), Some(self.changes.len()));
        self.changes.push(Change {
            kv,
            prev: prev.clone(),
            deleted: false,
            prev_partial,
        });
        Ok(prev)
    }

    /// The version a put replaces, and whether it lacks its value: this transaction's own
    /// write, else the cache of newest versions (unless the value is needed), else the
    /// backend (which then fills the cache: what it read is the committed state).
    fn prev_for_put(&self, key: &[u8], full_prev: bool) -> Result<(Option<KeyValue>, bool)> {
        if let Some(v) = self.overlay.get(key) {
            return Ok((self.own(*v).cloned(), false));
        }
        if !full_prev {
            if let Some(cached) = self.store.latest.get(key) {
                return Ok((cached.map(|l| l.to_kv(key)), cached.is_some()));
            }
        }
        let prev = self.store.get_at(key, self.rev - 1)?;
        self.store.latest.set(key, prev.as_ref().map(Latest::of));
        Ok((prev, false))
    }

    /// Deletes every live key in `range`; returns what was deleted, in key order.
    pub fn delete_range(&mut self, range: &KeyRange) -> Result<Vec<KeyValue>> {
        let found = self.range(range, 0, 0, false)?.kvs;
        for prev in &found {
            self.delete_one(prev.clone())?;
        }
        Ok(found)
    }

    fn delete_one(&mut self, prev: KeyValue) -> Result<()> {
        let rev = Revision {
            main: self.rev,
            sub: self.sub,
        };
        let key = prev.key.clone();
        let stored = KeyValue {
            key: key.clone(),
            ..Default::default()
        };
        let mut val = vec![keys::TOMBSTONE];
        stored
            .encode(&mut val)
            .map_err(|e| Error::Backend(format!("encode: {e}")))?;
        self.batch.put(Cf::Key, keys::version_key(&key, rev), val);
        let mut rv = vec![keys::TOMBSTONE];
        rv.extend_from_slice(&key);
        self.batch.put(Cf::Rev, keys::rev_key(rev).to_vec(), rv);
        if prev.lease != 0 {
            self.batch.delete(Cf::LeaseKeys, lease_key(prev.lease, &key));
        }
        self.sub += 1;
        self.overlay.insert(key.clone(), None);
        self.changes.push(Change {
            kv: KeyValue {
                key,
                mod_revision: self.rev,
                ..Default::default()
            },
            prev: Some(prev),
            deleted: true,
            prev_partial: false,
        });
        Ok(())
    }

    /// Commits atomically with raft entry `index` (term `term`). Returns the store's revision
    /// after the commit and the changes made, in order.
    pub fn commit(self, index: u64, term: u64) -> Result<(i64, Vec<Change>)> {
        let store = self.store;
        let mut staged = Staged::default();
        let out = self.stage(index, term, &mut staged);
        store.flush(&mut staged)?;
        Ok(out)
    }

    /// Adds this transaction to `staged`, applied as of raft entry `index`: later
    /// transactions made with [`KvStore::write_after`] build on it, and nothing is visible to
    /// readers until [`KvStore::flush`]. Returns the revision after it and its changes.
    pub fn stage(self, index: u64, term: u64, staged: &mut Staged) -> (i64, Vec<Change>) {
        let rev = if self.changes.is_empty() {
            self.rev - 1
        } else {
            staged.rev = Some(self.rev);
            self.rev
        };
        for (key, state) in &self.overlay {
            self.store.latest.set(key, self.own(*state).map(Latest::of));
        }
        staged.batch.append(self.batch);
        staged.applied = Some((index, term));
        (rev, self.changes)
    }
}

/// Applied transactions not yet written: one backend write (and one set of counters) for
/// all of them.
#[derive(Default)]
pub struct Staged {
    batch: Batch,
    /// The revision of the newest staged write.
    rev: Option<i64>,
    /// The newest raft entry staged (index, term).
    applied: Option<(u64, u64)>,
}

impl Staged {
    /// Records raft entry `index` as applied with no writes of its own (a request refused by
    /// its checks), to be written with the rest.
    pub fn mark_applied(&mut self, index: u64, term: u64) {
        self.applied = Some((index, term));
    }

    pub fn is_empty(&self) -> bool {
        self.applied.is_none()
    }
}

impl KvStore {
    /// A write transaction on top of whatever `staged` holds.
    pub fn write_after(&self, staged: &Staged) -> WriteTxn<'_> {
        let mut t = WriteTxn::new(self);
        if let Some(rev) = staged.rev {
            t.rev = rev + 1;
        }
        t
    }

    /// Writes everything staged atomically, with the newest applied index, and makes it
    /// visible. On failure the cache of newest versions is emptied (it ran ahead of the
    /// backend).
    pub fn flush(&self, staged: &mut Staged) -> Result<()> {
        let Some((index, term)) = staged.applied.take() else {
            return Ok(());
        };
        let mut batch = std::mem::take(&mut staged.batch);
        put_meta_index(&mut batch, index, term);
        let rev = staged.rev.take();
        if let Some(rev) = rev {
            batch.put(Cf::Meta, META_CURRENT_REV, (rev as u64).to_be_bytes().to_vec());
        }
        if let Err(e) = self.backend().write(batch) {
            self.latest.clear();
            return Err(e.into());
        }
        self.latest.trim();
        self.publish(rev.unwrap_or_else(|| self.current_revision()), index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn a_read_never_sees_versions_past_the_published_revision() {
        let (_d, s) = open_temp();
        put(&s, "a", "0");
        let mut staged = Staged::default();
        let mut t = s.write_after(&staged);
        t.put(b"a", b"1", 0).expect("put");
        t.put(b"b", b"1", 0).expect("put");
        t.stage(20, 1, &mut staged);
        // What `flush` does first: the batch is in the backend, its revision not yet published.
        let batch = std::mem::take(&mut staged.batch);
        s.backend().write(batch).expect("write");
        let r = s.range(&KeyRange::new(b"\0", b"\0"), 0, 0, false).expect("range");
        assert_eq!(r.rev, 2);
        assert_eq!(r.count, 1, "b is newer than the header");
        assert_eq!(r.kvs[0].value, b"0");
        assert_eq!(r.kvs[0].mod_revision, 2);
    }

    #[test]
    fn txn_writes_share_one_revision_with_sub_revisions() {
        let (_d, s) = open_temp();
        put(&s, "a", "0");
        let mut t = s.write();
        assert_eq!(t.read_revision(), 2);
        t.put(b"a", b"1", 0).expect("put");
        t.put(b"b", b"1", 0).expect("put");
        // Reads inside see the txn's own writes.
        let r = t.range(&KeyRange::new(b"a", b"c"), 0, 0, false).expect("range");
        assert_eq!(r.count, 2);
        assert_eq!(r.rev, 3);
        let gone = t.delete_range(&KeyRange::new(b"a", b"")).expect("delete");
        assert_eq!(gone.len(), 1);
        assert_eq!(t.get(b"a").expect("get"), None);
        let (rev, changes) = t.commit(10, 1).expect("commit");
        assert_eq!(rev, 3);
        assert_eq!(changes.len(), 3);
        assert!(changes[2].deleted);
        assert_eq!(changes[2].kv.mod_revision, 3);
        assert_eq!(changes[2].prev.as_ref().map(|p| p.value.clone()), Some(b"1".to_vec()));
        assert_eq!(s.consistent_index(), 10);
        let r = s.range(&KeyRange::new(b"\0", b"\0"), 0, 0, false).expect("range");
        assert_eq!(r.kvs.len(), 1);
        assert_eq!(r.kvs[0].key, b"b");
    }

    #[test]
    fn empty_txn_does_not_bump_revision_and_versions_reset_after_delete() {
        let (_d, s) = open_temp();
        put(&s, "k", "1");
        put(&s, "k", "2");
        let t = s.write();
        assert_eq!(t.commit(5, 1).expect("commit").0, 3);
        assert_eq!(s.current_revision(), 3);
        del(&s, "k", "");
        put(&s, "k", "3");
        let kv = s.get_at(b"k", s.current_revision()).expect("get").expect("live");
        assert_eq!((kv.version, kv.create_revision, kv.mod_revision), (1, 5, 5));
    }
}
