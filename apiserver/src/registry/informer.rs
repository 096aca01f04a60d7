//! An in-memory copy of one resource, kept current by a store watch (client-go's informer
//! and lister, in-process): list, then watch from the list's revision; on any watch error
//! (compaction, etcd restart) list again. Objects are kept parsed (`T`), keyed by
//! (namespace, name), so authorizing a request never reads etcd.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::registry::generic::{ListOptions, Store};
use crate::registry::meta;
use crate::registry::resources::ResourceInfo;
use crate::registry::selector::Predicate;

pub type Key = (String, String);

pub struct Informer<T> {
    items: RwLock<HashMap<Key, Arc<T>>>,
    synced: tokio::sync::watch::Sender<bool>,
}

fn key_of(obj: &Value) -> Key {
    (
        meta::namespace(obj).unwrap_or("").to_string(),
        meta::name(obj).to_string(),
    )
}

impl<T: Send + Sync + 'static> Informer<T> {
    /// A cache filled by `parse` from every object of `res` (objects it maps to None are
    /// left out), kept current in the background.
    pub fn spawn(store: Arc<Store>, res: &'static ResourceInfo, parse: fn(&Value) -> Option<T>) -> Arc<Self> {
        let (synced, _) = tokio::sync::watch::channel(false);
        let inf = Arc::new(Informer {
            items: RwLock::new(HashMap::new()),
            synced,
        });
        let me = inf.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.list_and_watch(&store, res, parse).await {
                    tracing::debug!(resource = res.plural, error = %e, "informer restarts");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        inf
    }

    /// A cache of fixed objects (tests).
    pub fn fixed(objs: &[Value], parse: fn(&Value) -> Option<T>) -> Arc<Self> {
        let (synced, _) = tokio::sync::watch::channel(true);
        let items = objs
            .iter()
            .filter_map(|o| parse(o).map(|t| (key_of(o), Arc::new(t))))
            .collect();
        Arc::new(Informer {
            items: RwLock::new(items),
            synced,
        })
    }

    async fn list_and_watch(
        &self,
        store: &Store,
        res: &'static ResourceInfo,
        parse: fn(&Value) -> Option<T>,
    ) -> crate::error::Result<()> {
        let list = store.list(res, None, &ListOptions::default()).await?;
        let fresh: HashMap<Key, Arc<T>> = list
            .items
            .iter()
            .filter_map(|o| parse(o).map(|t| (key_of(o), Arc::new(t))))
            .collect();
        if let Ok(mut g) = self.items.write() {
            *g = fresh;
        }
        self.synced.send_replace(true);
        let mut w = store
            .watch(res, None, Predicate::default(), Some(&list.revision.to_string()))
            .await?;
        while let Some(events) = w.next().await? {
            let Ok(mut g) = self.items.write() else {
                break;
            };
            for ev in events {
                let k = key_of(&ev.object);
                match (ev.kind, parse(&ev.object)) {
                    ("DELETED", _) | (_, None) => {
                        g.remove(&k);
                    }
                    (_, Some(t)) => {
                        g.insert(k, Arc::new(t));
                    }
                }
            }
        }
        Ok(())
    }

    /// Wait (at most `limit`) for the first list to land.
    pub async fn wait_synced(&self, limit: Duration) {
        let mut rx = self.synced.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|s| *s)).await;
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<T>> {
        let g = self.items.read().ok()?;
        g.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// Every cached object, in no particular order.
    pub fn all(&self) -> Vec<Arc<T>> {
        match self.items.read() {
            Ok(g) => g.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The cached objects of one namespace.
    pub fn in_namespace(&self, ns: &str) -> Vec<Arc<T>> {
        match self.items.read() {
            Ok(g) => g.iter().filter(|((n, _), _)| n == ns).map(|(_, v)| v.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }
}
