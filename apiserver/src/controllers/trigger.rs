//! Change triggers: one watch per watched list (shared by every controller and the scheduler
//! that read it) wakes its subscribers whenever an object in it changes. A woken loop then
//! runs a level-triggered pass that lists through the API, so a pass always sees its own
//! earlier writes; the watch only decides *when* to look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::client::Client;

/// How long one watch request lasts before it is renewed from its last resourceVersion.
const WATCH_SECONDS: u64 = 290;

/// The watches, by list path.
pub struct Triggers {
    client: Client,
    watched: Mutex<HashMap<String, Arc<Watched>>>,
}

/// Subscribers of one list path.
#[derive(Default)]
struct Watched {
    listeners: Mutex<Vec<Arc<Notify>>>,
}

impl Watched {
    fn wake(&self) {
        for n in lock(&self.listeners).iter() {
            // Stores a permit when nobody waits: a change during a pass is not lost.
            n.notify_one();
        }
    }
}

impl Triggers {
    pub fn new(client: Client) -> Arc<Triggers> {
        Arc::new(Triggers {
            client,
            watched: Mutex::new(HashMap::new()),
        })
    }

    /// One [`Notify`] woken on every change to the lists at `paths` (e.g. `/api/v1/pods`);
    /// each path is watched once however many subscribe to it.
    pub fn subscribe(self: &Arc<Self>, paths: &[&str]) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        for p in paths {
            let w = {
                let mut all = lock(&self.watched);
                match all.get(*p) {
                    Some(w) => w.clone(),
                    None => {
                        let w = Arc::new(Watched::default());
                        all.insert((*p).to_string(), w.clone());
                        tokio::spawn(watch_loop(self.client.clone(), (*p).to_string(), w.clone()));
                        w
                    }
                }
            };
            lock(&w.listeners).push(n.clone());
        }
        n
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The resourceVersion of a list (a one-item page: only its metadata matters).
async fn list_version(client: &Client, path: &str) -> crate::client::Result<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let v = client.get(&format!("{path}{sep}limit=1")).await?;
    Ok(v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Watches `path` forever: from the current version, renewing from the last seen one; after
/// an expired version (410) or a failure it starts again from now and wakes everyone, since
/// changes may have been missed meanwhile.
async fn watch_loop(client: Client, path: String, w: Arc<Watched>) {
    let mut rv = String::new();
    loop {
        if rv.is_empty() {
            match list_version(&client, &path).await {
                Ok(v) if !v.is_empty() => rv = v,
                _ => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let mut expired = false;
        let from = rv.clone();
        let result = client
            .watch(&path, &from, WATCH_SECONDS, |ev| {
                let kind = ev.get("type").and_then(Value::as_str).unwrap_or_default();
                if kind == "ERROR" {
                    expired = true;
                    return;
                }
                if let Some(v) = ev.pointer("/object/metadata/resourceVersion").and_then(Value::as_str) {
                    rv = v.to_string();
                }
                if kind != "BOOKMARK" {
                    w.wake();
                }
            })
            .await;
        if expired || result.is_err() {
            if let Err(e) = result {
                tracing::debug!(path = %path, error = %e, "watch failed; starting again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            rv.clear();
            w.wake();
        }
    }
}
