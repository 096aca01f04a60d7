//! Watchers: each watches the run's whole prefix with `prev_kv` from a known start revision,
//! records every response, and after a broken stream (or a deliberate reconnect to another
//! member) resumes from the last received revision + 1.
//!
//! Owner: one task per watcher; it stops once it has received the sentinel revision set in
//! `target` (or at its hard deadline) and hands back its [`WatchLog`].

use super::client::{parse_value, Keys};
use crate::cluster::channel;
use crate::history::{Recorder, Value};
use futures::StreamExt;
use proto::etcdserverpb::watch_client::WatchClient;
use proto::etcdserverpb::watch_request::RequestUnion;
use proto::etcdserverpb::{WatchCreateRequest, WatchProgressRequest, WatchRequest};
use proto::mvccpb::event::EventType;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A key-value as carried by an event (`value` None for a DELETE's kv).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvKv {
    pub key: String,
    pub value: Option<Value>,
    pub create_rev: i64,
    pub mod_rev: i64,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub delete: bool,
    pub kv: EvKv,
    pub prev: Option<EvKv>,
}

impl Event {
    pub fn rev(&self) -> i64 {
        self.kv.mod_rev
    }
}

/// One WatchResponse carrying events.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub at: u64,
    pub member: usize,
    /// Stream number within this watcher (increments on every (re)connect).
    pub stream: usize,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WatchLog {
    pub id: usize,
    pub start_rev: i64,
    pub responses: Vec<Response>,
    /// Revisions each (re)connect asked to start from.
    pub resumes: Vec<i64>,
    /// Streams that ended in an error or were cancelled by the server.
    pub breaks: usize,
    pub errors: Vec<String>,
    /// True if the watcher saw everything up to the target.
    pub caught_up: bool,
    /// Progress notifications (answers to WatchProgressRequest).
    #[serde(default)]
    pub progress: Vec<Progress>,
}

/// A progress notification: every event up to `rev` must have been delivered by then.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub at: u64,
    pub member: usize,
    pub rev: i64,
    /// Events this watcher had received (over all its streams) when it arrived.
    pub received: usize,
}

impl WatchLog {
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.responses.iter().flat_map(|r| r.events.iter())
    }
}

fn ev_kv(kv: &proto::mvccpb::KeyValue, delete: bool) -> EvKv {
    EvKv {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: (!delete).then(|| parse_value(&kv.value)),
        create_rev: kv.create_revision,
        mod_rev: kv.mod_revision,
        version: kv.version,
    }
}

/// Watch configuration shared by all watchers.
#[derive(Debug)]
pub struct WatchEnv {
    pub rec: Arc<Recorder>,
    pub keys: Keys,
    pub endpoints: Vec<String>,
    /// Revision every watcher must reach before stopping (0 = not yet known).
    pub target: AtomicI64,
    /// Send a WatchProgressRequest every second and record the answers.
    pub progress: bool,
}

/// Runs one watcher from `start_rev`; reconnects to a random member every few seconds if
/// `hop` is set, exercising resumption.
pub async fn run(env: Arc<WatchEnv>, id: usize, start_rev: i64, hop: bool, deadline: Instant) -> WatchLog {
    let mut rng = rand::rngs::StdRng::seed_from_u64(id as u64 ^ 0x5eed);
    let n = env.endpoints.len().max(1);
    let mut log = WatchLog {
        id,
        start_rev,
        ..Default::default()
    };
    let mut next = start_rev;
    let mut member = id % n;
    let mut stream_no = 0;
    let (key, range_end) = env.keys.all();
    'outer: while Instant::now() < deadline {
        let target = env.target.load(Ordering::Relaxed);
        if target > 0 && next > target {
            log.caught_up = true;
            break;
        }
        stream_no += 1;
        log.resumes.push(next);
        let hop_at = Instant::now() + Duration::from_millis(rng.gen_range(3000..9000));
        let Ok(ch) = channel(&env.endpoints[member], Duration::from_secs(3600)) else {
            break;
        };
        let req = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: key.clone(),
                range_end: range_end.clone(),
                start_revision: next,
                prev_kv: true,
                ..Default::default()
            })),
        };
        // The request stream stays open: progress requests go out on it every second.
        let (req_tx, reqs) = futures::channel::mpsc::unbounded::<WatchRequest>();
        let _ = req_tx.unbounded_send(req);
        let mut progress_at = Instant::now() + Duration::from_millis(rng.gen_range(500..1500));
        let opened = tokio::time::timeout(Duration::from_secs(2), WatchClient::new(ch).watch(reqs)).await;
        let mut stream = match opened {
            Ok(Ok(s)) => s.into_inner(),
            Ok(Err(e)) => {
                log.errors.push(format!("open on m{member}: {}", e.message()));
                log.breaks += 1;
                member = (member + 1) % n;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                log.errors.push(format!("open on m{member}: timeout"));
                log.breaks += 1;
                member = (member + 1) % n;
                continue;
            }
        };
        loop {
            let target = env.target.load(Ordering::Relaxed);
            if target > 0 && next > target {
                log.caught_up = true;
                break 'outer;
            }
            let wait_until = if hop && target == 0 {
                hop_at
            } else {
                Instant::now() + Duration::from_millis(500)
            };
            let wait_until = if env.progress {
                wait_until.min(progress_at)
            } else {
                wait_until
            };
            let msg = tokio::select! {
                m = stream.next() => m,
                _ = tokio::time::sleep_until(wait_until.min(deadline)) => {
                    if Instant::now() >= deadline { break 'outer; }
                    if env.progress && Instant::now() >= progress_at {
                        let pr = WatchRequest { request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})) };
                        let _ = req_tx.unbounded_send(pr);
                        progress_at = Instant::now() + Duration::from_secs(1);
                    }
                    if hop && target == 0 && Instant::now() >= hop_at {
                        member = rng.gen_range(0..n);
                        continue 'outer; // deliberate reconnect: resume from `next`
                    }
                    continue;
                }
            };
            match msg {
                Some(Ok(resp)) => {
                    if resp.canceled {
                        log.errors.push(format!(
                            "canceled on m{member}: {} (compact_revision {})",
                            resp.cancel_reason, resp.compact_revision
                        ));
                        log.breaks += 1;
                        member = (member + 1) % n;
                        continue 'outer;
                    }
                    if resp.events.is_empty() {
                        // A progress notification (the client's test, etcd client/v3/watch.go).
                        let rev = resp.header.as_ref().map(|h| h.revision).unwrap_or(0);
                        if !resp.created && resp.compact_revision == 0 && rev != 0 {
                            let received = log.events().count();
                            log.progress.push(Progress {
                                at: env.rec.now(),
                                member,
                                rev,
                                received,
                            });
                        }
                        continue;
                    }
                    let events: Vec<Event> = resp
                        .events
                        .iter()
                        .filter_map(|e| {
                            let delete = e.r#type == EventType::Delete as i32;
                            let kv = ev_kv(e.kv.as_ref()?, delete);
                            let prev = e.prev_kv.as_ref().map(|p| ev_kv(p, false));
                            Some(Event { delete, kv, prev })
                        })
                        .collect();
                    if let Some(last) = events.last() {
                        next = next.max(last.rev() + 1);
                    }
                    log.responses.push(Response {
                        at: env.rec.now(),
                        member,
                        stream: stream_no,
                        events,
                    });
                }
                Some(Err(e)) => {
                    log.errors.push(format!("stream on m{member}: {}", e.message()));
                    log.breaks += 1;
                    member = (member + 1) % n;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
                None => {
                    log.errors.push(format!("stream on m{member} ended"));
                    log.breaks += 1;
                    member = (member + 1) % n;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
            }
        }
    }
    log
}
