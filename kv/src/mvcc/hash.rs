//! HashKV: CRC-32C over the history up to a revision, fed the same bytes etcd feeds it
//! (bucket name `key`, then each revision's bbolt key and marshalled `KeyValue`), so members
//! with equal histories agree, and agree with etcd on the same history.

use super::{keys, KvStore, Revision};
use crate::backend::Cf;
use crate::error::{Error, Result};

impl KvStore {
    /// Returns (hash, hashed revision, compact revision).
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64)> {
        let rev = if rev <= 0 { self.current_revision() } else { rev };
        if rev > self.current_revision() {
            return Err(Error::FutureRev);
        }
        let compact = self.compact_revision();
        if rev < compact {
            return Err(Error::Compacted);
        }
        let mut crc = crc32c::crc32c(b"key");
        let backend = self.backend();
        let mut it = backend.iter(Cf::Rev)?;
        it.seek(&keys::rev_key(Revision { main: 0, sub: 0 }));
        while it.valid() {
            let k = it.key().ok_or_else(|| Error::Corrupt("rev key".into()))?;
            let r = keys::decode_rev_key(k).ok_or_else(|| Error::Corrupt("rev key".into()))?;
            if r.main > rev {
                break;
            }
            let v = it.value().ok_or_else(|| Error::Corrupt("rev value".into()))?;
            let (flag, key) = v.split_first().ok_or_else(|| Error::Corrupt("rev value".into()))?;
            let tomb = *flag == keys::TOMBSTONE;
            let stored = self
                .backend()
                .get(Cf::Key, &keys::version_key(key, r))?
                .ok_or_else(|| Error::Corrupt(format!("revision {} {} has no version", r.main, r.sub)))?;
            crc = crc32c::crc32c_append(crc, &keys::etcd_rev_bytes(r, tomb));
            crc = crc32c::crc32c_append(crc, stored.get(1..).unwrap_or_default());
            it.next();
        }
        it.status()?;
        Ok((crc, rev, compact))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn equal_histories_hash_equal_and_different_ones_differ() {
        let (_d1, a) = open_temp();
        let (_d2, b) = open_temp();
        for s in [&a, &b] {
            put(s, "x", "1");
            put(s, "y", "2");
            del(s, "x", "");
        }
        assert_eq!(a.hash_kv(0).expect("hash"), b.hash_kv(0).expect("hash"));
        let at3 = a.hash_kv(3).expect("hash");
        put(&b, "z", "3");
        assert_ne!(a.hash_kv(0).expect("hash").0, b.hash_kv(0).expect("hash").0);
        // Hashing a past revision ignores what came after it.
        assert_eq!(b.hash_kv(3).expect("hash"), at3);
    }
}
