//! Kubernetes watch on top of one etcd watch (with prev_kv, from rv+1).
//!
//! Put with create_revision == mod_revision → ADDED; other puts → MODIFIED;
//! deletes → DELETED carrying the previous object. Selectors are checked
//! on old and new objects, so a MODIFIED that starts (stops) matching
//! becomes ADDED (DELETED). RV "" or "0" first replays the current state as
//! synthetic ADDED events.

use std::collections::VecDeque;
use std::sync::Arc;

use proto::mvccpb::event::EventType;
use proto::mvccpb::KeyValue;
use serde_json::Value;

use super::list::ListOptions;
use super::store::Store;
use crate::error::{ApiError, Result};
use crate::registry::meta;
use crate::registry::resources::ResourceInfo;
use crate::registry::selector::Predicate;
use crate::storage::codec::Codec;
use crate::storage::watch::WatchStream;
use crate::storage::{keys, StorageError};

#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub kind: &'static str,
    pub object: Value,
}

pub struct Watcher {
    stream: WatchStream,
    initial: VecDeque<WatchEvent>,
    predicate: Predicate,
    codec: Arc<dyn Codec>,
    res: &'static ResourceInfo,
    /// Highest revision seen (for BOOKMARK events).
    pub revision: i64,
}

impl Store {
    pub async fn watch(
        &self,
        res: &'static ResourceInfo,
        ns: Option<&str>,
        predicate: Predicate,
        resource_version: Option<&str>,
    ) -> Result<Watcher> {
        let prefix = keys::list_prefix(res.etcd_prefix, ns.filter(|n| !n.is_empty()));
        let mut initial = VecDeque::new();
        let start = match resource_version.filter(|r| !r.is_empty() && *r != "0") {
            Some(rv) => rv
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?,
            None => {
                let opts = ListOptions {
                    predicate: predicate.clone(),
                    ..Default::default()
                };
                let list = self.list(res, ns, &opts).await?;
                initial.extend(
                    list.items
                        .into_iter()
                        .map(|object| WatchEvent { kind: "ADDED", object }),
                );
                list.revision
            }
        };
        let stream = self.etcd.watch(&prefix, start + 1).await.map_err(|e| match e {
            StorageError::Compacted { compacted, .. } => {
                ApiError::Gone(format!("too old resource version: {start} ({compacted})"))
            }
            other => other.into(),
        })?;
        Ok(Watcher {
            stream,
            initial,
            predicate,
            codec: self.codec.clone(),
            res,
            revision: start,
        })
    }
}

impl Watcher {
    /// Next events (possibly empty on progress notifications); None = stream ended.
    pub async fn next(&mut self) -> Result<Option<Vec<WatchEvent>>> {
        if !self.initial.is_empty() {
            return Ok(Some(self.initial.drain(..).collect()));
        }
        let batch = match self.stream.next().await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(StorageError::Compacted { compacted, .. }) => {
                return Err(ApiError::Gone(format!(
                    "too old resource version: {} ({compacted})",
                    self.revision
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for ev in batch.events {
            let Some(kv) = ev.kv else { continue };
            self.revision = self.revision.max(kv.mod_revision);
            let prev = ev.prev_kv.as_ref().and_then(|p| self.decode(p, kv.mod_revision));
            let deleted = ev.r#type == EventType::Delete as i32;
            if deleted {
                if let Some(p) = prev.filter(|p| self.predicate.matches(p)) {
                    out.push(WatchEvent {
                        kind: "DELETED",
                        object: p,
                    });
                }
                continue;
            }
            let Some(cur) = self.decode(&kv, kv.mod_revision) else {
                continue;
            };
            let cur_match = self.predicate.matches(&cur);
            let prev_match = prev.as_ref().is_some_and(|p| self.predicate.matches(p));
            let kind = match (
                kv.create_revision == kv.mod_revision || prev.is_none(),
                cur_match,
                prev_match,
            ) {
                (true, true, _) => "ADDED",
                (false, true, true) => "MODIFIED",
                (false, true, false) => "ADDED",
                (false, false, true) => "DELETED",
                _ => continue,
            };
            out.push(WatchEvent { kind, object: cur });
        }
        if out.is_empty() {
            self.revision = self.revision.max(batch.revision);
        }
        Ok(Some(out))
    }

    fn decode(&self, kv: &KeyValue, rv: i64) -> Option<Value> {
        match self.codec.decode(&kv.value) {
            Ok(mut v) => {
                meta::set_resource_version(&mut v, rv);
                super::store::from_storage(self.res, &mut v);
                Some(v)
            }
            Err(e) => {
                tracing::warn!(key = %String::from_utf8_lossy(&kv.key), error = %e, "skipping undecodable watch value");
                None
            }
        }
    }
}
