//! Reads at a revision: walk the `key` column family one user key at a time and take each
//! key's newest version at or below the read revision (stepping over older versions, seeking
//! past long version chains).

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
        // Even a read at the current revision bounds what it returns by it: the apply loop
        // writes a batch of puts before it publishes their revisions, and a version newer than
        // the header's revision must not be seen (kube-apiserver lists at that revision and
        // watches from it).
        it.seek(&keys::key_start(range.start()));
        while let Some((ukey, r)) = current_version(&it)? {
            if ukey.as_slice() < range.start() || range.is_past(&ukey) {
                break;
            }
            let body = version_body(&it)?.to_vec();
            if r.main > rev {
                it.seek(&keys::version_key(
                    &ukey,
                    Revision {
                        main: rev,
                        sub: i64::MAX,
                    },
                ));
                match current_version(&it)? {
                    Some((k2, _)) if k2 == ukey => visit(&it, &mut f)?,
                    // No version at or below `rev`: already at the next key (or the end).
                    _ => continue,
                }
            } else {
                visit(&it, &mut f)?;
            }
            skip_older_versions(&mut it, &body, &ukey);
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

/// Steps that [`skip_older_versions`] tries with `next` before it seeks: with few versions
/// per key (the usual case after compaction) stepping is cheaper than a seek.
const SEQUENTIAL_SKIPS: usize = 4;

/// The encoded user key (escaped key + terminator) of the iterator's entry, without the
/// revision.
fn version_body<'a>(it: &'a RawIter<'_>) -> Result<&'a [u8]> {
    let k = it.key().ok_or_else(|| Error::Corrupt("iterator key".into()))?;
    k.get(..k.len().saturating_sub(16))
        .ok_or_else(|| Error::Corrupt("short version key".into()))
}

/// Moves the iterator past the remaining (older) versions of the key whose encoded form is
/// `body`, to the next user key.
fn skip_older_versions(it: &mut RawIter<'_>, body: &[u8], ukey: &[u8]) {
    for _ in 0..SEQUENTIAL_SKIPS {
        it.next();
        match it.key() {
            Some(k) if k.len() >= 16 && &k[..k.len() - 16] == body => {}
            _ => return,
        }
    }
    it.seek(&keys::key_after(ukey));
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

    #[test]
    fn every_revision_reads_as_a_model_says_across_long_and_short_version_chains() {
        let (_d, s) = open_temp();
        // Chains of 1 to 9 versions (past SEQUENTIAL_SKIPS), some deleted and re-created.
        let mut model: Vec<std::collections::BTreeMap<String, String>> = vec![Default::default()];
        let mut state = std::collections::BTreeMap::new();
        let ops: Vec<(&str, Option<usize>)> = (0..40)
            .map(|i| {
                let key = ["a", "b", "c", "d", "e"][i * 7 % 5];
                (key, if i % 11 == 10 { None } else { Some(i) })
            })
            .collect();
        for (key, v) in ops {
            match v {
                Some(v) => {
                    put(&s, key, &v.to_string());
                    state.insert(key.to_string(), v.to_string());
                }
                None if state.contains_key(key) => {
                    del(&s, key, "");
                    state.remove(key);
                }
                None => continue,
            }
            model.push(state.clone());
        }
        let all = KeyRange::new(b"\0", b"\0");
        for (i, want) in model.iter().enumerate() {
            let rev = i as i64 + 1;
            let got = s.range(&all, rev, 0, false).expect("range");
            let got: Vec<(String, String)> = got
                .kvs
                .iter()
                .map(|kv| {
                    (
                        String::from_utf8_lossy(&kv.key).into(),
                        String::from_utf8_lossy(&kv.value).into(),
                    )
                })
                .collect();
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(got, want, "at revision {rev}");
            let limited = s.range(&KeyRange::new(b"b", b"e"), rev, 1, false).expect("range");
            let in_range = want
                .iter()
                .filter(|(k, _)| k.as_str() >= "b" && k.as_str() < "e")
                .count();
            assert_eq!(limited.count, in_range, "count at revision {rev}");
        }
    }
}
