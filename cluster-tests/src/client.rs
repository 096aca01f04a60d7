//! Thin helpers over the `proto` crate's tonic clients, with timeouts on every call, for
//! tests that drive a server over gRPC directly.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::watch_client::WatchClient;
use proto::etcdserverpb::{watch_request, PutRequest, RangeRequest, RangeResponse, WatchCreateRequest, WatchRequest};
use proto::mvccpb::Event;
use tonic::transport::{Channel, Endpoint};

/// Per-RPC deadline for unary calls made through [`connect`]ed channels.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `127.0.0.1:port` (plain HTTP/2), with a 1 s connect timeout.
pub async fn connect(endpoint: &str) -> Result<Channel> {
    let ep = Endpoint::from_shared(format!("http://{endpoint}"))
        .context("endpoint url")?
        .connect_timeout(Duration::from_secs(1))
        .timeout(RPC_TIMEOUT);
    ep.connect().await.with_context(|| format!("connecting to {endpoint}"))
}

/// The smallest key greater than every key with this prefix (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Put; returns the header revision.
pub async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> Result<i64> {
    let resp = kv
        .put(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("put {key}"))?
        .into_inner();
    Ok(resp.header.context("put response without header")?.revision)
}

/// Range over a prefix at `revision` (0 = latest).
pub async fn range_prefix(kv: &mut KvClient<Channel>, prefix: &str, revision: i64) -> Result<RangeResponse> {
    let req = RangeRequest {
        key: prefix.into(),
        range_end: prefix_end(prefix.as_bytes()),
        revision,
        ..Default::default()
    };
    Ok(kv
        .range(req)
        .await
        .with_context(|| format!("range {prefix}*"))?
        .into_inner())
}

/// The current revision (header of a Range on an unused key).
pub async fn current_revision(kv: &mut KvClient<Channel>) -> Result<i64> {
    let resp = kv
        .range(RangeRequest {
            key: b"cluster-tests/no-such-key".to_vec(),
            ..Default::default()
        })
        .await
        .context("range for current revision")?
        .into_inner();
    Ok(resp.header.context("range response without header")?.revision)
}

/// Opens a watch on `prefix` from `start_revision` and collects events until one with
/// revision >= `until_revision` arrives; fails on cancel or after `timeout`.
pub async fn watch_collect(
    channel: Channel,
    prefix: &str,
    start_revision: i64,
    until_revision: i64,
    prev_kv: bool,
    timeout: Duration,
) -> Result<Vec<Event>> {
    let mut client = WatchClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(WatchCreateRequest {
            key: prefix.into(),
            range_end: prefix_end(prefix.as_bytes()),
            start_revision,
            prev_kv,
            ..Default::default()
        })),
    })
    .await
    .context("queue watch create")?;
    let collect = async move {
        let mut stream = client
            .watch(tokio_stream_from(rx))
            .await
            .context("open watch stream")?
            .into_inner();
        let mut events = Vec::new();
        while let Some(msg) = stream.next().await {
            let resp = msg.context("watch stream error")?;
            if resp.canceled {
                bail!(
                    "watch canceled: reason {:?}, compact_revision {}",
                    resp.cancel_reason,
                    resp.compact_revision
                );
            }
            let done = resp
                .events
                .iter()
                .any(|e| e.kv.as_ref().is_some_and(|kv| kv.mod_revision >= until_revision));
            events.extend(resp.events);
            if done {
                break;
            }
        }
        drop(tx);
        Ok(events)
    };
    tokio::time::timeout(timeout, collect)
        .await
        .with_context(|| format!("watch {prefix}* from {start_revision} did not reach revision {until_revision}"))?
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<WatchRequest>,
) -> impl futures::Stream<Item = WatchRequest> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// One bidirectional Watch stream, driven step by step (create, cancel, progress, read with
/// a timeout) for tests of watch semantics.
pub struct WatchSession {
    tx: tokio::sync::mpsc::Sender<WatchRequest>,
    rx: tonic::Streaming<proto::etcdserverpb::WatchResponse>,
}

impl WatchSession {
    /// Opens a stream whose first message creates a watch (a server sends its response
    /// headers only with its first message, so the stream cannot be opened empty).
    pub async fn open(channel: Channel, first: WatchCreateRequest) -> Result<WatchSession> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tx.send(create(first)).await.context("queue watch create")?;
        let mut client = WatchClient::new(channel);
        let call = client.watch(tokio_stream_from(rx));
        let rx = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .context("opening the watch stream timed out")?
            .context("open watch stream")?
            .into_inner();
        Ok(WatchSession { tx, rx })
    }

    /// Sends any request on the stream.
    pub async fn send(&self, req: WatchRequest) -> Result<()> {
        self.tx.send(req).await.context("watch stream closed")
    }

    /// Creates another watch on this stream.
    pub async fn create(&self, req: WatchCreateRequest) -> Result<()> {
        self.send(create(req)).await
    }

    /// Cancels watch `watch_id`.
    pub async fn cancel(&self, watch_id: i64) -> Result<()> {
        self.send(WatchRequest {
            request_union: Some(watch_request::RequestUnion::CancelRequest(
                proto::etcdserverpb::WatchCancelRequest { watch_id },
            )),
        })
        .await
    }

    /// Asks for a progress notification.
    pub async fn progress(&self) -> Result<()> {
        self.send(WatchRequest {
            request_union: Some(watch_request::RequestUnion::ProgressRequest(
                proto::etcdserverpb::WatchProgressRequest {},
            )),
        })
        .await
    }

    /// The next response, or `None` if none arrives within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<proto::etcdserverpb::WatchResponse>> {
        match tokio::time::timeout(timeout, self.rx.next()).await {
            Err(_) => Ok(None),
            Ok(None) => bail!("watch stream ended"),
            Ok(Some(r)) => Ok(Some(r.context("watch stream error")?)),
        }
    }

    /// Reads responses until `done` holds for everything read so far, or `timeout` passes
    /// (then returns what arrived; the caller's comparison shows what is missing).
    pub async fn until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&[proto::etcdserverpb::WatchResponse]) -> bool,
    ) -> Result<Vec<proto::etcdserverpb::WatchResponse>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next(left).await? {
                Some(r) => got.push(r),
                None => break,
            }
        }
        Ok(got)
    }
}

fn create(req: WatchCreateRequest) -> WatchRequest {
    WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(req)),
    }
}
