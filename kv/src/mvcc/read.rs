//! Reads at a revision: walk the `key` column family one user key at a time and take each
//! key's newest version at or below the read revision.

use proto::mvccpb::KeyValue;

use super::{decode_value, keys, KeyRange, KvStore, Revision};
use crate::backend::{Cf, RawIter};
use crate::error::{Error, Result};

/// What a range read found.
#[derive(Debug, Default, Clone)]
pub struct RangeResult {
    /// Live keys, ascending, at most `limit` of them.
    pub kvs: Vec<KeyValue>,
    /// Every live key in the range at `rev`, whatever the limit.
    pub count: usize,
    /// The revision the read saw.
    pub rev: i64,
}

impl KvStore {
    /// Reads `range` at `rev` (≤ 0 = latest). `limit == 0` means no limit; with
    /// `count_only` no values are decoded.
    pub fn range(&self, range: &KeyRange, rev: i64, limit: usize, count_only: bool) -> Result<RangeResult> {
        let current = self.current_revision();
        let rev = self.resolve_rev(rev)?;
        // As etcd: the header carries the store's revision, whatever revision was read.
        let mut out = RangeResult {
            rev: current.max(rev),
            ..Default::default()
        };
        self.scan(range, rev, |is_live, raw| {
            if !is_live {
                return Ok(());
            }
            out.count += 1;
            if !count_only && (limit == 0 || out.kvs.len() < limit) {
                let (_, kv) = decode_value(raw)?;
                out.kvs.push(kv);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Visits, in key order, each key of `range` that has a version at or below `rev`:
    /// `f(is_live, raw_value)`.
    pub(crate) fn scan(&self, range: &KeyRange, rev: i64, mut f: impl FnMut(bool, &[u8]) -> Result<()>) -> Result<()> {
        let backend = self.backend();
        let mut it = backend.iter(Cf::Key)?;
        let mut seek = keys::key_start(range.start());
        let latest = rev >= self.current_revision();
        loop {
            it.seek(&seek);
            let Some((ukey, r)) = current_version(&it)? else {
                break;
            };
            if ukey.as_slice() < range.start() || range.is_past(&ukey) {
                break;
            }
            if !latest && r.main > rev {
                it.seek(&keys::version_key(
                    &ukey,
                    Revision {
                        main: rev,
                        sub: i64::MAX,
                    },
                ));
                if let Some((k2, _)) = current_version(&it)? {
                    if k2 == ukey {
                        visit(&it, &mut f)?;
                    }
                }
            } else {
                visit(&it, &mut f)?;
            }
            seek = keys::key_after(&ukey);
        }
        Ok(())
    }

    /// The newest version of `key` at or below `rev`, if live.
    pub(crate) fn get_at(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>> {
        let backend = self.backend();
        let mut it = backend.iter(Cf::Key)?;
        it.seek(&keys::version_key(
            key,
            Revision {
                main: rev,
                sub: i64::MAX,
            },
        ));
        match current_version(&it)? {
            Some((k, _)) if k == key => {
                let raw = it.value().ok_or_else(|| Error::Corrupt("iterator value".into()))?;
                let (tomb, kv) = decode_value(raw)?;
                Ok(if tomb { None } else { Some(kv) })
            }
            _ => Ok(None),
        }
    }
}

fn current_version(it: &RawIter<'_>) -> Result<Option<(Vec<u8>, Revision)>> {
    if !it.valid() {
        it.status()?;
        return Ok(None);
    }
    let k = it.key().ok_or_else(|| Error::Corrupt("iterator key".into()))?;
    keys::decode_version_key(k)
        .map(Some)
        .ok_or_else(|| Error::Corrupt(format!("bad version key {k:?}")))
}

fn visit(it: &RawIter<'_>, f: &mut impl FnMut(bool, &[u8]) -> Result<()>) -> Result<()> {
    let raw = it.value().ok_or_else(|| Error::Corrupt("iterator value".into()))?;
    let live = raw.first() == Some(&keys::PUT);
    f(live, raw)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn keys_of(r: &RangeResult) -> Vec<String> {
        r.kvs
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect()
    }

    #[test]
    fn reads_at_past_revisions_see_old_versions() {
        let (_d, s) = open_temp();
        assert_eq!(s.current_revision(), 1);
        assert_eq!(put(&s, "a", "1"), 2);
        assert_eq!(put(&s, "b", "1"), 3);
        assert_eq!(put(&s, "a", "2"), 4);
        assert_eq!(del(&s, "b", ""), 5);
        let all = KeyRange::new(b"\0", b"\0");
        let now = s.range(&all, 0, 0, false).expect("range");
        assert_eq!(keys_of(&now), vec!["a"]);
        assert_eq!(now.kvs[0].value, b"2");
        assert_eq!(now.kvs[0].version, 2);
        assert_eq!(now.kvs[0].create_revision, 2);
        assert_eq!(now.kvs[0].mod_revision, 4);
        let at3 = s.range(&all, 3, 0, false).expect("range");
        assert_eq!(keys_of(&at3), vec!["a", "b"]);
        assert_eq!(at3.kvs[0].value, b"1");
        assert_eq!(s.range(&all, 1, 0, false).expect("range").count, 0);
        assert_eq!(s.range(&all, 6, 0, false).err(), Some(Error::FutureRev));
    }

    #[test]
    fn limit_and_count_and_bounds() {
        let (_d, s) = open_temp();
        for k in ["a", "a\0", "ab", "b", "c"] {
            put(&s, k, "v");
        }
        let r = s.range(&KeyRange::new(b"a", b"b"), 0, 2, false).expect("range");
        assert_eq!(keys_of(&r), vec!["a", "a\0"]);
        assert_eq!(r.count, 3);
        let r = s.range(&KeyRange::new(b"a", b""), 0, 0, false).expect("range");
        assert_eq!(keys_of(&r), vec!["a"]);
        let r = s.range(&KeyRange::new(b"b", b"\0"), 0, 0, true).expect("range");
        assert_eq!((r.count, r.kvs.len()), (2, 0));
        let r = s.range(&KeyRange::new(b"zz", b""), 0, 0, false).expect("range");
        assert_eq!(r.count, 0);
    }
}
