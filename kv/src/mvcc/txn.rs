//! One write transaction: puts and deletes at the next main revision, one sub-revision each,
//! reads that see the transaction's own writes, and an atomic commit together with the raft
//! index it applies.

use std::collections::BTreeMap;

use prost::Message;
use proto::mvccpb::KeyValue;

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
}

/// A write in progress; nothing is visible to other readers until `commit`.
pub struct WriteTxn<'a> {
    store: &'a KvStore,
    rev: i64,
    sub: i64,
    batch: Batch,
    /// The state this transaction gave each key it wrote (None = deleted).
    overlay: BTreeMap<Vec<u8>, Option<KeyValue>>,
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

    /// The live value of `key` as this transaction sees it.
    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
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
            match v {
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
        let prev = self.get(key)?;
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
        self.overlay.insert(key.to_vec(), Some(kv.clone()));
        self.changes.push(Change {
            kv,
            prev: prev.clone(),
            deleted: false,
        });
        Ok(prev)
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
        });
        Ok(())
    }

    /// Commits atomically with raft entry `index` (term `term`). Returns the store's revision
    /// after the commit and the changes made, in order.
    pub fn commit(mut self, index: u64, term: u64) -> Result<(i64, Vec<Change>)> {
        put_meta_index(&mut self.batch, index, term);
        let rev = if self.changes.is_empty() {
            self.rev - 1
        } else {
            self.batch
                .put(Cf::Meta, META_CURRENT_REV, (self.rev as u64).to_be_bytes().to_vec());
            self.rev
        };
        self.store.backend().write(self.batch)?;
        self.store.publish(rev, index);
        Ok((rev, self.changes))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

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
