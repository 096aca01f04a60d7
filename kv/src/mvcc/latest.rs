//! The newest version's metadata (revisions, version, lease) of recently written keys, so a
//! put learns create_revision, version and the previous lease without reading the backend.
//!
//! A cache, never the source of truth: it starts empty (a restart costs nothing), a miss
//! reads the backend, only applied writes enter it (the apply loop is the one writer; writes
//! staged for the next backend write are in it until written), a snapshot install or a
//! failed backend write empties it, and after a backend write it empties itself once past
//! `MAX_ENTRIES`, so its memory is bounded. Compaction never changes what it holds: the newest version of a live key
//! survives compaction, and a deleted key stays absent.

use std::collections::HashMap;

use parking_lot::Mutex;
use proto::mvccpb::KeyValue;

/// Keys remembered before the cache starts over (about 100 bytes each with short keys).
const MAX_ENTRIES: usize = 1 << 18;

/// What a put needs to know about a key's newest version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latest {
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

impl Latest {
    pub fn of(kv: &KeyValue) -> Latest {
        Latest {
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
        }
    }

    /// The version as a `KeyValue` without its value.
    pub fn to_kv(self, key: &[u8]) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: Vec::new(),
            lease: self.lease,
        }
    }
}

/// Key → its newest version (`None`: known to have no live version).
#[derive(Default)]
pub struct LatestIndex {
    map: Mutex<HashMap<Vec<u8>, Option<Latest>>>,
}

impl LatestIndex {
    /// `None` on a miss; `Some(None)` when the key is known not to be live.
    pub fn get(&self, key: &[u8]) -> Option<Option<Latest>> {
        self.map.lock().get(key).copied()
    }

    /// Records the state of `key` as of the newest write applied (committed or staged).
    /// Never drops an entry: keys with staged writes must stay until those are written.
    pub fn set(&self, key: &[u8], latest: Option<Latest>) {
        let mut map = self.map.lock();
        if let Some(slot) = map.get_mut(key) {
            *slot = latest;
            return;
        }
        map.insert(key.to_vec(), latest);
    }

    /// Starts over once past `MAX_ENTRIES` (called when nothing is staged).
    pub fn trim(&self) {
        let mut map = self.map.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }

    /// Forgets everything (the backend was replaced).
    pub fn clear(&self) {
        self.map.lock().clear();
    }

    /// Drops the entries of deleted keys (after a compaction removed their tombstones), so
    /// keys that come and go do not fill the cache.
    pub fn forget_deleted(&self) {
        self.map.lock().retain(|_, v| v.is_some());
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rev: i64) -> Option<Latest> {
        Some(Latest {
            create_revision: 1,
            mod_revision: rev,
            version: rev,
            lease: 0,
        })
    }

    #[test]
    fn hits_misses_and_the_bound() {
        let ix = LatestIndex::default();
        assert_eq!(ix.get(b"a"), None);
        ix.set(b"a", at(2));
        ix.set(b"b", None);
        assert_eq!(ix.get(b"a"), Some(at(2)));
        assert_eq!(ix.get(b"b"), Some(None));
        ix.forget_deleted();
        assert_eq!(ix.get(b"b"), None);
        for i in 0..MAX_ENTRIES + 10 {
            ix.set(format!("k{i}").as_bytes(), at(3));
        }
        assert_eq!(ix.len(), MAX_ENTRIES + 11, "nothing dropped while writes may be staged");
        ix.trim();
        assert_eq!(ix.len(), 0);
        ix.set(b"a", at(2));
        ix.trim();
        assert_eq!(ix.len(), 1);
        ix.clear();
        assert_eq!(ix.len(), 0);
    }
}

/// Random histories run twice: on one store puts go through the cache (`full_prev = false`)
/// and runs of put-only transactions are staged and written together, as the apply loop
/// does; on the other every put reads the backend and every transaction commits alone.
/// Every change and every read must agree.
#[cfg(test)]
mod model {
    use super::super::testutil::open_temp;
    use super::super::{Change, KeyRange, KvStore, Staged};
    use crate::backend::Backend;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::sync::Arc;

    const KEYS: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"d\0"];

    #[derive(Clone, Copy)]
    enum Op {
        Put(&'static [u8], i64),
        Delete(&'static [u8]),
        DeleteFromC,
    }

    fn gen_txn(rng: &mut StdRng, puts_only: bool) -> Vec<Op> {
        (0..rng.gen_range(1..4))
            .map(|_| {
                let key = KEYS[rng.gen_range(0..KEYS.len())];
                match rng.gen_range(0..10) {
                    _ if puts_only => Op::Put(key, [0i64, 0, 7, 9][rng.gen_range(0..4)]),
                    0..=5 => Op::Put(key, [0i64, 0, 7, 9][rng.gen_range(0..4)]),
                    6 | 7 => Op::Delete(key),
                    _ => Op::DeleteFromC,
                }
            })
            .collect()
    }

    fn apply(t: &mut super::super::WriteTxn<'_>, ops: &[Op], cached: bool) {
        for op in ops {
            match *op {
                Op::Put(key, lease) => {
                    t.put_with(key, b"v", lease, !cached).expect("put");
                }
                Op::Delete(key) => {
                    t.delete_range(&KeyRange::new(key, b"")).expect("delete");
                }
                Op::DeleteFromC => {
                    t.delete_range(&KeyRange::new(b"c", b"\0")).expect("delete range");
                }
            }
        }
    }

    /// The parts of a change the cache decides (prev values are only read on the
    /// reference): the new version's and the previous version's metadata.
    fn shape(c: &Change) -> (Vec<u8>, bool, [i64; 4], Option<[i64; 4]>) {
        let meta = |kv: &proto::mvccpb::KeyValue| [kv.create_revision, kv.mod_revision, kv.version, kv.lease];
        (c.kv.key.clone(), c.deleted, meta(&c.kv), c.prev.as_ref().map(meta))
    }

    #[test]
    fn cached_and_staged_puts_match_backend_reads() {
        for seed in 0..20u64 {
            let (_da, a) = open_temp();
            let (_db, b) = open_temp();
            let (mut a, b) = (Arc::new(a), Arc::new(b));
            let mut rng = StdRng::seed_from_u64(seed);
            let (mut ia, mut ib) = (0u64, 0u64);
            let saved = tempfile::tempdir().expect("tempdir");
            let (mut n_saved, mut last_saved) = (0, None);
            for step in 0..300 {
                match rng.gen_range(0..40) {
                    0 => {
                        // A transaction that never commits leaves nothing behind.
                        let mut t = a.write();
                        t.put_with(KEYS[0], b"lost", 5, false).expect("put");
                        t.delete_range(&KeyRange::new(KEYS[1], b"")).expect("delete");
                    }
                    1 if a.current_revision() > a.compact_revision() => {
                        let rev = rng.gen_range(a.compact_revision() + 1..=a.current_revision());
                        ia += 1;
                        ib += 1;
                        a.compact(rev, ia, 1).expect("compact a");
                        b.compact(rev, ib, 1).expect("compact b");
                    }
                    2 => {
                        // A restart: the cache starts empty over the same backend.
                        a = Arc::new(KvStore::open(a.backend()).expect("reopen"));
                    }
                    3 => {
                        // Both save a checkpoint; a later step goes back to it, as a
                        // snapshot installed from a leader replaces the backend.
                        n_saved += 1;
                        last_saved = Some(n_saved);
                        for (s, tag) in [(&a, "a"), (&b, "b")] {
                            let dir = saved.path().join(format!("{tag}{n_saved}"));
                            s.backend().checkpoint(&dir).expect("checkpoint");
                        }
                    }
                    4 if last_saved.is_some() => {
                        let n = last_saved.take().unwrap_or_default();
                        for (s, tag) in [(&a, "a"), (&b, "b")] {
                            let dir = saved.path().join(format!("{tag}{n}"));
                            let backend = Backend::open(&dir).expect("open checkpoint");
                            s.replace_backend(Arc::new(backend)).expect("replace");
                        }
                        // Consistent indexes went back with the backends; a commit may not.
                        ia = a.consistent_index();
                        ib = b.consistent_index();
                    }
                    5..=14 => {
                        // A run of put-only transactions: staged together on a, one by one on b.
                        let before = a.current_revision();
                        let mut staged = Staged::default();
                        let (mut ca, mut cb) = (Vec::new(), Vec::new());
                        for _ in 0..rng.gen_range(1..6) {
                            let ops = gen_txn(&mut rng, true);
                            let mut t = a.write_after(&staged);
                            apply(&mut t, &ops, true);
                            ia += 1;
                            ca.extend(t.stage(ia, 1, &mut staged).1);
                            let mut t = b.write();
                            apply(&mut t, &ops, false);
                            ib += 1;
                            cb.extend(t.commit(ib, 1).expect("commit").1);
                        }
                        assert_eq!(a.current_revision(), before, "staged writes are not visible");
                        a.flush(&mut staged).expect("flush");
                        let sa: Vec<_> = ca.iter().map(shape).collect();
                        let sb: Vec<_> = cb.iter().map(shape).collect();
                        assert_eq!(sa, sb, "seed {seed} step {step}");
                    }
                    _ => {
                        let ops = gen_txn(&mut rng, false);
                        let mut t = a.write();
                        apply(&mut t, &ops, true);
                        ia += 1;
                        let ca = t.commit(ia, 1).expect("commit a").1;
                        let mut t = b.write();
                        apply(&mut t, &ops, false);
                        ib += 1;
                        let cb = t.commit(ib, 1).expect("commit b").1;
                        let sa: Vec<_> = ca.iter().map(shape).collect();
                        let sb: Vec<_> = cb.iter().map(shape).collect();
                        assert_eq!(sa, sb, "seed {seed} step {step}");
                    }
                }
                assert_eq!(a.current_revision(), b.current_revision(), "seed {seed} step {step}");
                let all = KeyRange::new(b"\0", b"\0");
                let ra = a.range(&all, 0, 0, false).expect("range a").kvs;
                let rb = b.range(&all, 0, 0, false).expect("range b").kvs;
                assert_eq!(ra, rb, "seed {seed} step {step}");
            }
        }
    }
}
