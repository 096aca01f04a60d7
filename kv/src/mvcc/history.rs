//! History replay in revision order: the events a watcher that fell behind (or started in
//! the past) must receive, with each event's previous version when asked.

use proto::mvccpb::{event::EventType, Event, KeyValue};

use super::{decode_value, keys, KvStore, Revision};
use crate::backend::Cf;
use crate::error::{Error, Result};

/// One event out of the history, with its revision.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub rev: Revision,
    pub event: Event,
}

impl KvStore {
    /// Events with main revision in `[from, to]`, at most about `max` of them (a revision is
    /// never split: the last one is always complete).
    pub fn history(&self, from: i64, to: i64, with_prev: bool, max: usize) -> Result<Vec<HistoryEvent>> {
        if from < self.compact_revision() {
            return Err(Error::Compacted);
        }
        let mut out = Vec::new();
        let backend = self.backend();
        let mut it = backend.iter(Cf::Rev)?;
        it.seek(&keys::rev_key(Revision {
            main: from.max(0),
            sub: 0,
        }));
        let mut last_main = 0;
        while it.valid() {
            let k = it.key().ok_or_else(|| Error::Corrupt("rev key".into()))?;
            let r = keys::decode_rev_key(k).ok_or_else(|| Error::Corrupt("rev key".into()))?;
            if r.main > to || (out.len() >= max && r.main != last_main) {
                break;
            }
            last_main = r.main;
            let v = it.value().ok_or_else(|| Error::Corrupt("rev value".into()))?;
            let (_, key) = v.split_first().ok_or_else(|| Error::Corrupt("rev value".into()))?;
            out.push(HistoryEvent {
                rev: r,
                event: self.event_at(key, r, with_prev)?,
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    fn event_at(&self, key: &[u8], r: Revision, with_prev: bool) -> Result<Event> {
        let backend = self.backend();
        let mut it = backend.iter(Cf::Key)?;
        it.seek(&keys::version_key(key, r));
        let raw = match (it.valid(), it.key()) {
            (true, Some(k)) if keys::decode_version_key(k) == Some((key.to_vec(), r)) => it.value().map(|v| v.to_vec()),
            _ => None,
        }
        .ok_or_else(|| Error::Corrupt(format!("revision {} {} has no version", r.main, r.sub)))?;
        let (tomb, mut kv) = decode_value(&raw)?;
        let mut prev_kv = None;
        if with_prev {
            it.next();
            if let (true, Some(k)) = (it.valid(), it.key()) {
                if matches!(keys::decode_version_key(k), Some((pk, _)) if pk == key) {
                    if let Some(v) = it.value() {
                        let (ptomb, pkv) = decode_value(v)?;
                        if !ptomb {
                            prev_kv = Some(pkv);
                        }
                    }
                }
            }
        }
        let ty = if tomb {
            kv = KeyValue {
                key: key.to_vec(),
                mod_revision: r.main,
                ..Default::default()
            };
            EventType::Delete
        } else {
            EventType::Put
        };
        Ok(Event {
            r#type: ty as i32,
            kv: Some(kv),
            prev_kv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn history_replays_events_with_prev() {
        let (_d, s) = open_temp();
        put(&s, "a", "1"); // 2
        put(&s, "a", "2"); // 3
        del(&s, "a", ""); // 4
        let h = s.history(3, 4, true, usize::MAX).expect("history");
        assert_eq!(h.len(), 2);
        let e0 = &h[0].event;
        assert_eq!(e0.kv.as_ref().map(|k| k.value.clone()), Some(b"2".to_vec()));
        assert_eq!(e0.prev_kv.as_ref().map(|k| k.value.clone()), Some(b"1".to_vec()));
        let e1 = &h[1].event;
        assert_eq!(e1.r#type, 1);
        assert_eq!(e1.kv.as_ref().map(|k| k.mod_revision), Some(4));
        assert_eq!(e1.prev_kv.as_ref().map(|k| k.value.clone()), Some(b"2".to_vec()));
        assert_eq!(s.history(2, 4, false, 1).expect("history").len(), 1);
    }
}
