//! Streaming watch responses: newline-delimited `WatchEvent` JSON, or kube's protobuf
//! stream (`application/vnd.kubernetes.protobuf;stream=watch`): each frame a 4-byte
//! big-endian length and a bare meta/v1 WatchEvent{type, object: RawExtension{raw}} whose raw
//! is the object in the `k8s\0` envelope (kube's RawSerializer + LengthDelimitedFramer).
//!
//! One task per watch reads the store's `Watcher` and writes frames into the
//! response body; it stops on `timeoutSeconds`, client disconnect or store
//! error (sent as an ERROR event carrying a Status, e.g. 410 Expired).
//! BOOKMARKs are sent every `--watch-bookmark-interval-seconds` (a minute,
//! as kube-apiserver's cacher) when `allowWatchBookmarks=true`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::encoding::Output;
use super::table::{table, Include};
use super::{AppState, Response};
use crate::error::{ApiError, Result};
use crate::registry::resources::ResourceInfo;
use crate::registry::selector::Predicate;

#[allow(clippy::too_many_arguments)]
pub async fn serve(
    state: Arc<AppState>,
    res: &'static ResourceInfo,
    ns: Option<String>,
    pred: Predicate,
    q: &HashMap<String, String>,
    as_table: bool,
    include: Include,
    out: Output,
) -> Result<Response> {
    let pb = out == Output::Protobuf;
    let rv = q.get("resourceVersion").cloned();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(24 * 3600)))
        .unwrap_or(Duration::from_secs(30 * 60));
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    if q.get("sendInitialEvents").is_some_and(|b| b == "true") {
        return Err(ApiError::BadRequest(
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled".into(),
        ));
    }
    let mut watcher = state.store.watch(res, ns.as_deref(), pred, rv.as_deref()).await?;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(state.bookmark_interval);
        tick.tick().await;
        let mut first_table = true;
        // A custom resource's watch ends when its CRD stops serving or changes this version,
        // as kube-apiserver tears down the CRD's storage (clients re-list and re-watch).
        let mut served = tokio::time::interval(std::time::Duration::from_secs(1));
        let still_served = || {
            crate::registry::resources::find(res.group, res.version, res.plural).is_some_and(|r| std::ptr::eq(r, res))
        };
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = tx.closed() => break,
                _ = served.tick(), if res.is_custom() => if !still_served() { break },
                _ = tick.tick(), if bookmarks => {
                    let ev = json!({"type": "BOOKMARK", "object": {
                        "kind": res.kind, "apiVersion": res.api_version(),
                        "metadata": {"resourceVersion": watcher.revision.to_string()}}});
                    if send(&tx, &ev, pb).await.is_err() { break; }
                }
                r = watcher.next() => match r {
                    Ok(Some(events)) => {
                        let mut failed = false;
                        for ev in events {
                            let object = if as_table {
                                let rv = ev.object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
                                let t = table(res, std::slice::from_ref(&ev.object), json!({"resourceVersion": rv}), include, first_table);
                                first_table = false;
                                t
                            } else {
                                ev.object
                            };
                            if send(&tx, &json!({"type": ev.kind, "object": object}), pb).await.is_err() {
                                failed = true;
                                break;
                            }
                        }
                        if failed { break; }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let (_, status) = super::status::to_status(&e);
                        let _ = send(&tx, &json!({"type": "ERROR", "object": status}), pb).await;
                        break;
                    }
                }
            }
        }
    });
    let body = StreamBody::new(ReceiverStream::new(rx)).boxed();
    let mut resp = http::Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(if pb {
            "application/vnd.kubernetes.protobuf;stream=watch"
        } else {
            "application/json"
        }),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

async fn send(tx: &mpsc::Sender<Result<Frame<Bytes>, Infallible>>, v: &Value, pb: bool) -> Result<(), ()> {
    let bytes = if pb {
        protobuf_frame(v).map_err(|e| tracing::warn!(error = %e, "unable to encode watch event"))?
    } else {
        let mut line = serde_json::to_vec(v).map_err(|_| ())?;
        line.push(b'\n');
        line
    };
    tx.send(Ok(Frame::data(Bytes::from(bytes)))).await.map_err(|_| ())
}

/// One length-delimited protobuf frame of the event `{"type", "object"}`.
pub fn protobuf_frame(ev: &Value) -> Result<Vec<u8>, String> {
    let ty = ev.get("type").and_then(Value::as_str).unwrap_or("");
    let object = ev.get("object").unwrap_or(&Value::Null);
    let raw = crate::storage::protobuf::encode_envelope(object)?
        .ok_or_else(|| "no protobuf schema for the watched kind".to_string())?;
    let event = crate::storage::protobuf::encode::encode_watch_event(ty, &raw);
    let len = u32::try_from(event.len()).map_err(|_| "watch event too large".to_string())?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&event);
    Ok(out)
}
