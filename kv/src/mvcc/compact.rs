//! Physical compaction: drop every version that no read at or after the compaction revision
//! can see. For each key touched since the last compaction, the newest version at or below
//! the revision is kept (unless it is a tombstone) and every older one is removed.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::{keys, put_meta_index, KvStore, Revision, META_COMPACT_REV};
use crate::backend::{Batch, Cf};
use crate::error::{Error, Result};

/// Revisions scanned per backend batch, so one compaction never builds a huge write.
const CHUNK: usize = 10_000;

impl KvStore {
    /// Compacts the history up to `rev` and records it with raft entry `index`.
    pub fn compact(&self, rev: i64, index: u64, term: u64) -> Result<()> {
        let prev = self.compact_revision();
        if rev <= prev {
            return Err(Error::Compacted);
        }
        if rev > self.current_revision() {
            return Err(Error::FutureRev);
        }
        let mut from = keys::rev_key(Revision { main: prev + 1, sub: 0 }).to_vec();
        loop {
            let mut touched = BTreeSet::new();
            let mut next_from = None;
            {
                let backend = self.backend();
                let mut it = backend.iter(Cf::Rev)?;
                it.seek(&from);
                while it.valid() {
                    let k = it.key().ok_or_else(|| Error::Corrupt("rev key".into()))?;
                    let r = keys::decode_rev_key(k).ok_or_else(|| Error::Corrupt("rev key".into()))?;
                    if r.main > rev {
                        break;
                    }
                    let v = it.value().ok_or_else(|| Error::Corrupt("rev value".into()))?;
                    if let Some((_, key)) = v.split_first() {
                        touched.insert(key.to_vec());
                    }
                    if touched.len() >= CHUNK {
                        it.next();
                        if it.valid() {
                            next_from = it.key().map(|k| k.to_vec());
                        }
                        break;
                    }
                    it.next();
                }
                it.status()?;
            }
            let mut batch = Batch::default();
            for key in &touched {
                self.compact_key(key, rev, &mut batch)?;
            }
            self.backend().write(batch)?;
            match next_from {
                Some(f) => from = f,
                None => break,
            }
        }
        let mut b = Batch::default();
        b.put(Cf::Meta, META_COMPACT_REV, (rev as u64).to_be_bytes().to_vec());
        put_meta_index(&mut b, index, term);
        self.backend().write(b)?;
        self.latest.forget_deleted();
        self.compacted.store(rev, Ordering::Release);
        self.consistent_index.store(index, Ordering::Release);
        Ok(())
    }

    fn compact_key(&self, key: &[u8], rev: i64, batch: &mut Batch) -> Result<()> {
        let backend = self.backend();
        let mut it = backend.iter(Cf::Key)?;
        it.seek(&keys::version_key(
            key,
            Revision {
                main: rev,
                sub: i64::MAX,
            },
        ));
        let mut first = true;
        while it.valid() {
            let k = it.key().ok_or_else(|| Error::Corrupt("key".into()))?;
            let Some((ukey, r)) = keys::decode_version_key(k) else {
                return Err(Error::Corrupt(format!("bad version key {k:?}")));
            };
            if ukey != key {
                break;
            }
            let tomb = it.value().and_then(|v| v.first().copied()) == Some(keys::TOMBSTONE);
            if !first || tomb {
                batch.delete(Cf::Key, k.to_vec());
                batch.delete(Cf::Rev, keys::rev_key(r).to_vec());
            }
            first = false;
            it.next();
        }
        it.status()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::KeyRange;
    use super::*;

    #[test]
    fn compaction_keeps_what_later_reads_see() {
        let (_d, s) = open_temp();
        put(&s, "a", "1"); // 2
        put(&s, "a", "2"); // 3
        put(&s, "b", "1"); // 4
        del(&s, "b", ""); // 5
        put(&s, "c", "1"); // 6
        s.compact(5, 100, 1).expect("compact");
        assert_eq!(s.compact_revision(), 5);
        let all = KeyRange::new(b"\0", b"\0");
        assert_eq!(s.range(&all, 4, 0, false).err(), Some(Error::Compacted));
        let at5 = s.range(&all, 5, 0, false).expect("range at compact rev");
        assert_eq!(at5.kvs.len(), 1);
        assert_eq!(at5.kvs[0].value, b"2");
        assert_eq!(s.range(&all, 0, 0, false).expect("range").count, 2);
        // The history left is exactly the kept version of a plus c's put.
        let backend = s.backend();
        let mut it = backend.iter(Cf::Rev).expect("iter");
        it.seek_to_first();
        let mut revs = Vec::new();
        while it.valid() {
            revs.push(keys::decode_rev_key(it.key().expect("key")).expect("rev").main);
            it.next();
        }
        assert_eq!(revs, vec![3, 6]);
        assert_eq!(s.history(4, 10, false, 10).err(), Some(Error::Compacted));
        assert_eq!(s.history(5, 10, false, 10).expect("history").len(), 1);
        assert_eq!(s.compact(5, 101, 1).err(), Some(Error::Compacted));
        assert_eq!(s.compact(7, 101, 1).err(), Some(Error::FutureRev));
    }
}
