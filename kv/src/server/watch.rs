//! The Watch service: one bidirectional stream, many watchers on it. Requests (create,
//! cancel, progress) come in on one task; everything for the client (created/canceled
//! answers, events, progress) goes out through one ordered channel fed by the hub.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use prost::Message;
use proto::etcdserverpb::{
    watch_create_request::FilterType, watch_request::RequestUnion, watch_server::Watch, WatchCreateRequest,
    WatchRequest, WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::errors::status;
use crate::error::Error;
use crate::member::Member;
use crate::mvcc::KeyRange;
use crate::watch::{StreamMsg, WatchSpec};

/// Events and answers queued per stream before a watcher counts as slow.
const STREAM_BUFFER: usize = 1024;

pub struct WatchService {
    pub member: Arc<Member>,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

/// Whether the client asked streams to fail when there is no leader (`hasleader: true`).
pub fn requires_leader<T>(req: &Request<T>) -> bool {
    req.metadata()
        .get("hasleader")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "true")
        .unwrap_or(false)
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<Streaming<WatchRequest>>) -> Result<Response<Self::WatchStream>, Status> {
        if requires_leader(&req) && !self.member.has_leader() {
            return Err(status(Error::NoLeader));
        }
        let user = super::authz::caller(&self.member, &req).map_err(status)?;
        let member = self.member.clone();
        let mut incoming = req.into_inner();
        let stream_id = member.hub.new_stream();
        let (hub_tx, mut hub_rx) = mpsc::channel::<StreamMsg>(STREAM_BUFFER);
        let (out_tx, out_rx) = mpsc::channel::<Result<WatchResponse, Status>>(64);
        // Per-watcher settings the sender needs (fragmenting).
        let fragments: Arc<parking_lot::Mutex<HashMap<i64, bool>>> = Default::default();

        // Sender: hub messages → WatchResponses, in order.
        let sm = member.clone();
        let sfrag = fragments.clone();
        let sout = out_tx.clone();
        tokio::spawn(async move {
            while let Some(msg) = hub_rx.recv().await {
                for resp in to_responses(&sm, msg, &sfrag) {
                    if sout.send(Ok(resp)).await.is_err() {
                        return;
                    }
                }
            }
        });

        // Receiver: client requests.
        let rm = member.clone();
        tokio::spawn(async move {
            let mut next_id: i64 = 0;
            loop {
                let msg = match incoming.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "watch stream closed by client");
                        break;
                    }
                };
                match msg.request_union {
                    Some(RequestUnion::CreateRequest(c)) => {
                        let denied = user.as_ref().is_some_and(|u| {
                            let end = if c.key.is_empty() && c.range_end.is_empty() {
                                vec![]
                            } else {
                                c.range_end.clone()
                            };
                            let key = if c.key.is_empty() { vec![0] } else { c.key.clone() };
                            rm.auth.check(u, &key, &end, crate::auth::Need::Read).is_err()
                        });
                        if denied {
                            let _ = hub_tx.try_send(StreamMsg::CreateFailed {
                                reason: "rpc error: code = PermissionDenied desc = etcdserver: permission denied"
                                    .into(),
                            });
                        } else {
                            create(&rm, stream_id, c, &mut next_id, &hub_tx, &fragments);
                        }
                    }
                    Some(RequestUnion::CancelRequest(c)) if rm.hub.cancel(stream_id, c.watch_id) => {
                        fragments.lock().remove(&c.watch_id);
                        let _ = hub_tx
                            .send(StreamMsg::Canceled {
                                watch_id: c.watch_id,
                                reason: String::new(),
                            })
                            .await;
                    }
                    Some(RequestUnion::CancelRequest(_)) => {}
                    Some(RequestUnion::ProgressRequest(_)) => {
                        rm.hub.request_progress(stream_id, &hub_tx);
                    }
                    None => {}
                }
            }
            rm.hub.close_stream(stream_id);
        });

        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

fn create(
    m: &Arc<Member>,
    stream: u64,
    mut c: WatchCreateRequest,
    next_id: &mut i64,
    tx: &mpsc::Sender<StreamMsg>,
    fragments: &parking_lot::Mutex<HashMap<i64, bool>>,
) {
    if c.key.is_empty() {
        c.key = vec![0];
    }
    let spec = WatchSpec {
        range: KeyRange::new(&c.key, &c.range_end),
        start_rev: c.start_revision,
        prev_kv: c.prev_kv,
        no_put: c.filters.contains(&(FilterType::Noput as i32)),
        no_delete: c.filters.contains(&(FilterType::Nodelete as i32)),
        progress_notify: c.progress_notify,
    };
    let id = if c.watch_id != 0 {
        c.watch_id
    } else {
        while m.hub.is_watching(stream, *next_id) {
            *next_id += 1;
        }
        let id = *next_id;
        *next_id += 1;
        id
    };
    if c.watch_id != 0 && m.hub.is_watching(stream, id) {
        let _ = tx.try_send(StreamMsg::CreateFailed {
            reason: "mvcc: duplicate watch ID provided on the WatchStream".into(),
        });
        return;
    }
    fragments.lock().insert(id, c.fragment);
    if let Err(e) = m.hub.watch(stream, id, spec, tx.clone()) {
        let _ = tx.try_send(StreamMsg::CreateFailed { reason: e.to_string() });
    }
}

fn to_responses(m: &Member, msg: StreamMsg, fragments: &parking_lot::Mutex<HashMap<i64, bool>>) -> Vec<WatchResponse> {
    match msg {
        StreamMsg::Created { watch_id, rev } => vec![WatchResponse {
            header: Some(m.header(rev)),
            watch_id,
            created: true,
            ..Default::default()
        }],
        StreamMsg::CreateFailed { reason } => vec![WatchResponse {
            header: Some(m.header(m.store.current_revision())),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason,
            ..Default::default()
        }],
        StreamMsg::Canceled { watch_id, reason } => vec![WatchResponse {
            header: Some(m.header(m.store.current_revision())),
            watch_id,
            canceled: true,
            cancel_reason: reason,
            ..Default::default()
        }],
        StreamMsg::Compacted { watch_id, compact_rev } => {
            fragments.lock().remove(&watch_id);
            // etcd: revision 0 in the header and no reason; the compact revision says it.
            vec![WatchResponse {
                header: Some(m.header(0)),
                watch_id,
                canceled: true,
                compact_revision: compact_rev,
                ..Default::default()
            }]
        }
        StreamMsg::Progress { watch_id, rev } => vec![WatchResponse {
            header: Some(m.header(rev)),
            watch_id,
            ..Default::default()
        }],
        StreamMsg::Events { watch_id, events, rev } => {
            let whole = WatchResponse {
                header: Some(m.header(rev)),
                watch_id,
                events,
                ..Default::default()
            };
            let fragment = fragments.lock().get(&watch_id).copied().unwrap_or(false);
            let limit = m.cfg.max_request_bytes;
            if !fragment || whole.events.len() < 2 || whole.encoded_len() <= limit {
                return vec![whole];
            }
            fragment_response(whole, limit)
        }
    }
}

/// Splits a response into pieces under `limit` bytes; all but the last say `fragment`.
fn fragment_response(whole: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    let mut out = Vec::new();
    let mut cur = WatchResponse {
        events: Vec::new(),
        ..whole.clone()
    };
    for e in whole.events {
        if !cur.events.is_empty() && cur.encoded_len() + e.encoded_len() + 16 > limit {
            let mut piece = std::mem::replace(
                &mut cur,
                WatchResponse {
                    events: Vec::new(),
                    ..WatchResponse {
                        header: whole.header,
                        watch_id: whole.watch_id,
                        ..Default::default()
                    }
                },
            );
            piece.fragment = true;
            out.push(piece);
        }
        cur.events.push(e);
    }
    out.push(cur);
    out
}
