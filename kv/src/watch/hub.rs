//! Watchers, their streams, notify, catch-up and progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use proto::mvccpb::{event::EventType, Event};
use tokio::sync::{mpsc, Notify};

use crate::error::{Error, Result};
use crate::mvcc::{Change, KeyRange, KvStore};

/// What a stream's sender turns into `WatchResponse`s.
#[derive(Debug)]
pub enum StreamMsg {
    /// The watcher exists; `rev` is the store revision when it was made.
    Created { watch_id: i64, rev: i64 },
    /// A create request that made no watcher.
    CreateFailed { reason: String },
    /// The watcher is gone at the client's request.
    Canceled { watch_id: i64, reason: String },
    /// Events of one or more whole revisions; `rev` is the last revision they cover.
    Events {
        watch_id: i64,
        events: Vec<Event>,
        rev: i64,
    },
    /// Progress: everything up to `rev` was delivered (`watch_id` -1 for a stream-wide one).
    Progress { watch_id: i64, rev: i64 },
    /// The watcher's start revision is compacted; it is cancelled.
    Compacted { watch_id: i64, compact_rev: i64 },
}

/// A watch as the client asked for it.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    pub range: KeyRange,
    pub start_rev: i64,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    pub progress_notify: bool,
}

/// (stream, watch id).
type WatcherKey = (u64, i64);

struct Watcher {
    stream: u64,
    watch_id: i64,
    spec: WatchSpec,
    /// The next revision this watcher must receive.
    next_rev: i64,
    synced: bool,
    tx: mpsc::Sender<StreamMsg>,
}

#[derive(Default)]
struct State {
    watchers: HashMap<(u64, i64), Watcher>,
    /// The last revision handed to `notify`.
    notified: i64,
    next_stream: u64,
}

pub struct WatchHub {
    store: Arc<KvStore>,
    state: Mutex<State>,
    wake_catchup: Notify,
}

/// Replay batch size for catch-up (events; revisions are never split).
const CATCHUP_BATCH: usize = 1000;

impl WatchHub {
    pub fn new(store: Arc<KvStore>) -> Arc<WatchHub> {
        let notified = store.current_revision();
        let hub = Arc::new(WatchHub {
            store,
            state: Mutex::new(State {
                notified,
                ..Default::default()
            }),
            wake_catchup: Notify::new(),
        });
        let h = hub.clone();
        tokio::spawn(async move { h.catchup_loop().await });
        hub
    }

    /// A new stream id: watch ids are per stream.
    pub fn new_stream(&self) -> u64 {
        let mut st = self.state.lock();
        st.next_stream += 1;
        st.next_stream
    }

    /// Registers a watcher and queues its `Created` answer ahead of any event. A start
    /// revision that is already compacted is answered by the catch-up task, after `Created`,
    /// with a `Compacted` cancel (as etcd does).
    pub fn watch(&self, stream: u64, watch_id: i64, spec: WatchSpec, tx: mpsc::Sender<StreamMsg>) -> Result<()> {
        let mut st = self.state.lock();
        if st.watchers.contains_key(&(stream, watch_id)) {
            return Err(Error::InvalidArgument(
                "mvcc: duplicate watch ID provided on the WatchStream".into(),
            ));
        }
        let next_rev = if spec.start_rev <= 0 {
            st.notified + 1
        } else {
            spec.start_rev
        };
        let synced = next_rev > st.notified;
        tx.try_send(StreamMsg::Created {
            watch_id,
            rev: st.notified,
        })
        .map_err(|_| Error::InvalidArgument("watch stream is full".into()))?;
        st.watchers.insert(
            (stream, watch_id),
            Watcher {
                stream,
                watch_id,
                spec,
                next_rev,
                synced,
                tx,
            },
        );
        drop(st);
        if !synced {
            self.wake_catchup.notify_one();
        }
        Ok(())
    }

    /// After a snapshot install: the store jumped, so every watcher catches up from the new
    /// history (or is told its revision was compacted).
    pub fn reset_after_install(&self) {
        let mut st = self.state.lock();
        st.notified = self.store.current_revision();
        for w in st.watchers.values_mut() {
            w.synced = false;
        }
        drop(st);
        self.wake_catchup.notify_one();
    }

    pub fn is_watching(&self, stream: u64, watch_id: i64) -> bool {
        self.state.lock().watchers.contains_key(&(stream, watch_id))
    }

    pub fn cancel(&self, stream: u64, watch_id: i64) -> bool {
        self.state.lock().watchers.remove(&(stream, watch_id)).is_some()
    }

    pub fn close_stream(&self, stream: u64) {
        self.state.lock().watchers.retain(|(s, _), _| *s != stream);
    }

    pub fn watcher_count(&self) -> usize {
        self.state.lock().watchers.len()
    }

    /// A stream-wide progress notification, sent only when every watcher of the stream is
    /// synced (so the revision really is a bookmark). Returns whether it was sent.
    pub fn request_progress(&self, stream: u64, tx: &mpsc::Sender<StreamMsg>) -> bool {
        let st = self.state.lock();
        let all_synced = st.watchers.values().filter(|w| w.stream == stream).all(|w| w.synced);
        if !all_synced {
            return false;
        }
        tx.try_send(StreamMsg::Progress {
            watch_id: -1,
            rev: st.notified,
        })
        .is_ok()
    }

    /// Periodic progress for watchers that asked for it (`progress_notify`).
    pub fn progress_notify_all(&self) {
        let st = self.state.lock();
        for w in st.watchers.values() {
            if w.synced && w.spec.progress_notify {
                let _ = w.tx.try_send(StreamMsg::Progress {
                    watch_id: w.watch_id,
                    rev: st.notified,
                });
            }
        }
    }

    /// Called by the apply loop after each committed revision, in order.
    pub fn notify(&self, rev: i64, changes: &[Change]) {
        let mut st = self.state.lock();
        st.notified = rev;
        if changes.is_empty() {
            return;
        }
        let filled;
        let changes = if self.prev_values_wanted(&st, changes) {
            filled = self.fill_prev_values(changes);
            &filled[..]
        } else {
            changes
        };
        let mut fell_behind = false;
        let mut gone = Vec::new();
        for (id, w) in st.watchers.iter_mut() {
            if !w.synced || w.next_rev > rev {
                continue;
            }
            let events = select(&w.spec, changes.iter().map(change_event));
            if events.is_empty() {
                w.next_rev = rev + 1;
                continue;
            }
            match w.tx.try_send(StreamMsg::Events {
                watch_id: w.watch_id,
                events,
                rev,
            }) {
                Ok(()) => w.next_rev = rev + 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    w.synced = false;
                    w.next_rev = rev;
                    fell_behind = true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in gone {
            st.watchers.remove(&id);
        }
        drop(st);
        if fell_behind {
            self.wake_catchup.notify_one();
        }
    }

    /// Whether a change without its previous value meets a watcher that asks for prev_kv.
    fn prev_values_wanted(&self, st: &State, changes: &[Change]) -> bool {
        changes.iter().any(|c| {
            c.prev_partial
                && st
                    .watchers
                    .values()
                    .any(|w| w.spec.prev_kv && w.spec.range.contains(&c.kv.key))
        })
    }

    /// The changes with every previous version read whole from the store (called before
    /// anything later is applied, so the version before each change's revision is there).
    fn fill_prev_values(&self, changes: &[Change]) -> Vec<Change> {
        changes
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if c.prev_partial {
                    match self.store.get_at(&c.kv.key, c.kv.mod_revision - 1) {
                        Ok(prev) => {
                            c.prev = prev;
                            c.prev_partial = false;
                        }
                        Err(e) => tracing::error!(error = %e, "cannot read a previous version for a watcher"),
                    }
                }
                c
            })
            .collect()
    }

    async fn catchup_loop(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.wake_catchup.notified()).await;
            if Arc::strong_count(&self) == 1 {
                return;
            }
            let hub = self.clone();
            let res = tokio::task::spawn_blocking(move || hub.catch_up_once()).await;
            match res {
                // Some watcher moved and more history is waiting: go again at once.
                Ok(Ok(CatchUp::Advanced)) => self.wake_catchup.notify_one(),
                // Nothing to do, or every lagging stream is still full: wait for the timer.
                Ok(Ok(CatchUp::Idle | CatchUp::Blocked)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "watch catch-up failed"),
                Err(e) => tracing::warn!(error = %e, "watch catch-up task failed"),
            }
        }
    }

    /// One replay round for the unsynced watchers whose streams have room.
    fn catch_up_once(&self) -> Result<CatchUp> {
        let (pending, notified, blocked): (Vec<(WatcherKey, i64)>, i64, bool) = {
            let st = self.state.lock();
            let unsynced: Vec<&Watcher> = st.watchers.values().filter(|w| !w.synced).collect();
            let ready: Vec<(WatcherKey, i64)> = unsynced
                .iter()
                .filter(|w| w.tx.capacity() > 0)
                .map(|w| ((w.stream, w.watch_id), w.next_rev))
                .collect();
            let blocked = ready.len() < unsynced.len();
            (ready, st.notified, blocked)
        };
        if pending.is_empty() {
            return Ok(if blocked { CatchUp::Blocked } else { CatchUp::Idle });
        }
        let from = pending.iter().map(|(_, r)| *r).min().unwrap_or(notified + 1);
        let compacted = self.store.compact_revision();
        let history = if from <= notified && from >= compacted {
            self.store.history(from, notified, true, CATCHUP_BATCH)?
        } else {
            Vec::new()
        };
        let covered = match history.last() {
            Some(h) if history.len() >= CATCHUP_BATCH => h.rev.main,
            _ => notified,
        };
        let mut advanced = false;
        let mut st = self.state.lock();
        for (id, next_rev) in pending {
            let Some(w) = st.watchers.get_mut(&id) else {
                continue;
            };
            if w.synced || w.next_rev != next_rev {
                continue;
            }
            if next_rev < compacted {
                let _ = w.tx.try_send(StreamMsg::Compacted {
                    watch_id: w.watch_id,
                    compact_rev: compacted,
                });
                st.watchers.remove(&id);
                continue;
            }
            let events = select(
                &w.spec,
                history
                    .iter()
                    .filter(|h| h.rev.main >= next_rev && h.rev.main <= covered)
                    .map(|h| h.event.clone()),
            );
            if !events.is_empty()
                && w.tx
                    .try_send(StreamMsg::Events {
                        watch_id: w.watch_id,
                        events,
                        rev: covered,
                    })
                    .is_err()
            {
                continue;
            }
            w.next_rev = covered + 1;
            advanced = true;
        }
        // Synced only if nothing was notified since the history was read.
        let now_notified = st.notified;
        let mut lagging = false;
        for w in st.watchers.values_mut() {
            if !w.synced && w.next_rev > now_notified {
                w.synced = true;
            } else if !w.synced {
                lagging = true;
            }
        }
        Ok(match (advanced, lagging) {
            (true, true) => CatchUp::Advanced,
            (false, true) => CatchUp::Blocked,
            _ => CatchUp::Idle,
        })
    }
}

/// What one catch-up round achieved.
enum CatchUp {
    Idle,
    Advanced,
    Blocked,
}

/// The event of one change, as notify delivers it.
fn change_event(c: &Change) -> Event {
    Event {
        r#type: if c.deleted { EventType::Delete } else { EventType::Put } as i32,
        kv: Some(c.kv.clone()),
        prev_kv: c.prev.clone(),
    }
}

/// The events a watcher should see: in its range, through its filters, prev_kv as asked.
fn select(spec: &WatchSpec, events: impl Iterator<Item = Event>) -> Vec<Event> {
    let mut out = Vec::new();
    for mut e in events {
        let Some(kv) = &e.kv else { continue };
        if !spec.range.contains(&kv.key) {
            continue;
        }
        let is_delete = e.r#type == EventType::Delete as i32;
        if (is_delete && spec.no_delete) || (!is_delete && spec.no_put) {
            continue;
        }
        if !spec.prev_kv {
            e.prev_kv = None;
        }
        out.push(e);
    }
    out
}
