//! etcd v3 client: the transactions kube-apiserver's etcd3 store issues.
//!
//! Owns the gRPC channels to `--etcd-servers` and fails over to the next
//! endpoint when one is unavailable. Every write is a Txn guarded by the
//! key's mod_revision (create: == 0; update/delete: == the revision read),
//! so concurrent apiservers on one store never lose updates.

use std::future::Future;
use std::time::Duration;

use proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::lease_client::LeaseClient;
use proto::etcdserverpb::request_op::Request;
use proto::etcdserverpb::response_op::Response;
use proto::etcdserverpb::watch_client::WatchClient;
use proto::etcdserverpb::{
    watch_request, Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest, RangeResponse, RequestOp,
    TxnRequest, WatchCreateRequest, WatchRequest,
};
use proto::mvccpb::KeyValue;
use std::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

use super::watch::WatchStream;
use super::{Result, StorageError};

/// Largest etcd response accepted: an unpaged list of 10k pods is over tonic's 4 MiB
/// default (kube-apiserver's etcd client takes any size).
const MAX_MESSAGE: usize = usize::MAX;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Outcome of a guarded write.
pub enum WriteOutcome {
    /// Applied at this revision.
    Done(i64),
    /// The guard failed; the key's current value (None: key absent).
    Conflict(Option<KeyValue>),
}

/// Client TLS towards etcd, as kube-apiserver's flags give it.
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    pub ca_file: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
}

impl EtcdTls {
    fn client_config(&self) -> Result<tonic::transport::ClientTlsConfig> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| StorageError::Internal(format!("cannot read {}: {e}", p.display())))
        };
        let mut cfg = tonic::transport::ClientTlsConfig::new();
        if let Some(ca) = &self.ca_file {
            cfg = cfg.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => cfg = cfg.identity(tonic::transport::Identity::from_pem(read(c)?, read(k)?)),
            (None, None) => {}
            _ => {
                return Err(StorageError::Internal(
                    "--etcd-certfile and --etcd-keyfile go together".into(),
                ))
            }
        }
        Ok(cfg)
    }
}

pub struct Etcd {
    endpoints: Vec<Endpoint>,
    /// (index into `endpoints`, its channel). A std Mutex: held only to copy
    /// the cheap `Channel` handle, never across an await.
    current: Mutex<(usize, Channel)>,
}

impl Etcd {
    /// Lazily connects to the comma-separated `servers` (http://host:port, or https:// with
    /// `tls`: kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile).
    pub fn new(servers: &str, tls: Option<&EtcdTls>) -> Result<Self> {
        let tls_config = match tls {
            Some(t) => Some(t.client_config()?),
            None => None,
        };
        let mut endpoints = Vec::new();
        for s in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let url = if s.contains("://") {
                s.to_string()
            } else {
                format!("http://{s}")
            };
            let mut ep = Endpoint::from_shared(url.clone())
                .map_err(|e| StorageError::Internal(format!("bad etcd server {url}: {e}")))?
                .connect_timeout(Duration::from_secs(3))
                .tcp_nodelay(true);
            if url.starts_with("https://") {
                let cfg = tls_config.clone().ok_or_else(|| {
                    StorageError::Internal(format!(
                        "{url} is https: give --etcd-cafile (and --etcd-certfile/--etcd-keyfile)"
                    ))
                })?;
                ep = ep
                    .tls_config(cfg)
                    .map_err(|e| StorageError::Internal(format!("etcd TLS for {url}: {e}")))?;
            }
            endpoints.push(ep);
        }
        let first = endpoints
            .first()
            .ok_or_else(|| StorageError::Internal("no --etcd-servers given".into()))?
            .connect_lazy();
        Ok(Self {
            endpoints,
            current: Mutex::new((0, first)),
        })
    }

    fn current(&self) -> (usize, Channel) {
        match self.current.lock() {
            Ok(g) => (g.0, g.1.clone()),
            Err(p) => {
                let g = p.into_inner();
                (g.0, g.1.clone())
            }
        }
    }

    /// Move to the endpoint after `failed` (unless someone already did).
    fn fail_over(&self, failed: usize) {
        let mut g = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.0 == failed && self.endpoints.len() > 1 {
            let next = (failed + 1) % self.endpoints.len();
            tracing::warn!(endpoint = %self.endpoints[next].uri(), "etcd fail-over");
            *g = (next, self.endpoints[next].connect_lazy());
        }
    }

    /// Run `f` on the current channel, failing over on Unavailable.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut last = String::from("no endpoint tried");
        for _ in 0..self.endpoints.len() * 2 {
            let (idx, ch) = self.current();
            match tokio::time::timeout(REQUEST_TIMEOUT, f(ch)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(s)) if s.code() == tonic::Code::Unavailable => {
                    last = s.message().to_string();
                    self.fail_over(idx);
                }
                Ok(Err(s)) => return Err(map_status(&s)),
                Err(_) => {
                    self.fail_over(idx);
                    return Err(StorageError::Unavailable("request timed out".into()));
                }
            }
        }
        Err(StorageError::Unavailable(last))
    }

    /// Range [key, range_end) at `revision` (0 = latest).
    pub async fn range(&self, key: &[u8], range_end: &[u8], limit: i64, revision: i64) -> Result<RangeResponse> {
        let req = RangeRequest {
            key: key.to_vec(),
            range_end: range_end.to_vec(),
            limit,
            revision,
            ..Default::default()
        };
        self.call(|ch| {
            let req = req.clone();
            async move {
                Ok(KvClient::new(ch)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .range(req)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// Read one key: (its value if present, header revision).
    pub async fn get(&self, key: &str) -> Result<(Option<KeyValue>, i64)> {
        let resp = self.range(key.as_bytes(), &[], 0, 0).await?;
        let rev = resp.header.map(|h| h.revision).unwrap_or_default();
        Ok((resp.kvs.into_iter().next(), rev))
    }

    /// Put `value` at `key` only if the key does not exist.
    pub async fn create(&self, key: &str, value: Vec<u8>, lease: i64) -> Result<i64> {
        let txn = TxnRequest {
            compare: vec![mod_revision_is(key, 0)],
            success: vec![put_op(key, value, lease)],
            failure: vec![],
        };
        let resp = self.txn(txn).await?;
        if !resp.succeeded {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        Ok(resp.header.map(|h| h.revision).unwrap_or_default())
    }

    /// Put `value` at `key` only if its mod_revision is still `expected`.
    pub async fn update(&self, key: &str, value: Vec<u8>, expected: i64, lease: i64) -> Result<WriteOutcome> {
        let txn = TxnRequest {
            compare: vec![mod_revision_is(key, expected)],
            success: vec![put_op(key, value, lease)],
            failure: vec![get_op(key)],
        };
        self.guarded(txn).await
    }

    /// Delete `key` only if its mod_revision is still `expected`.
    pub async fn delete(&self, key: &str, expected: i64) -> Result<WriteOutcome> {
        let txn = TxnRequest {
            compare: vec![mod_revision_is(key, expected)],
            success: vec![RequestOp {
                request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                    key: key.as_bytes().to_vec(),
                    ..Default::default()
                })),
            }],
            failure: vec![get_op(key)],
        };
        self.guarded(txn).await
    }

    async fn guarded(&self, txn: TxnRequest) -> Result<WriteOutcome> {
        let resp = self.txn(txn).await?;
        if resp.succeeded {
            return Ok(WriteOutcome::Done(resp.header.map(|h| h.revision).unwrap_or_default()));
        }
        let current = resp.responses.into_iter().find_map(|r| match r.response {
            Some(Response::ResponseRange(rr)) => rr.kvs.into_iter().next(),
            _ => None,
        });
        Ok(WriteOutcome::Conflict(current))
    }

    async fn txn(&self, txn: TxnRequest) -> Result<proto::etcdserverpb::TxnResponse> {
        self.call(|ch| {
            let txn = txn.clone();
            async move {
                Ok(KvClient::new(ch)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .txn(txn)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// Grant a lease of `ttl` seconds (events are written with one).
    pub async fn lease_grant(&self, ttl: i64) -> Result<i64> {
        self.call(|ch| async move {
            let r = LeaseClient::new(ch)
                .lease_grant(LeaseGrantRequest { ttl, id: 0 })
                .await?
                .into_inner();
            Ok(r.id)
        })
        .await
    }

    /// One etcd Watch on every key under `prefix`, with prev_kv, from `start_revision`.
    pub async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream> {
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(WatchCreateRequest {
                key: prefix.as_bytes().to_vec(),
                range_end: super::keys::prefix_range_end(prefix.as_bytes()),
                start_revision,
                prev_kv: true,
                progress_notify: true,
                ..Default::default()
            })),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<WatchRequest>(1);
        tx.send(create)
            .await
            .map_err(|_| StorageError::Internal("watch request channel closed".into()))?;
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(rx)));
        let inner = self
            .call(|ch| {
                let rx = rx.clone();
                async move {
                    let Some(rx) = rx.lock().await.take() else {
                        return Err(tonic::Status::internal("watch already started"));
                    };
                    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
                    Ok(WatchClient::new(ch)
                        .max_decoding_message_size(MAX_MESSAGE)
                        .watch(stream)
                        .await?
                        .into_inner())
                }
            })
            .await?;
        WatchStream::start(tx, inner).await
    }
}

fn mod_revision_is(key: &str, rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Mod as i32,
        key: key.as_bytes().to_vec(),
        range_end: vec![],
        target_union: Some(TargetUnion::ModRevision(rev)),
    }
}

fn put_op(key: &str, value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: key.as_bytes().to_vec(),
            value,
            lease,
            ..Default::default()
        })),
    }
}

fn get_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestRange(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })),
    }
}

/// etcd's error strings (rpctypes) → StorageError.
pub(crate) fn map_status(s: &tonic::Status) -> StorageError {
    let msg = s.message();
    if msg.contains("required revision has been compacted") {
        StorageError::Compacted {
            requested: 0,
            compacted: 0,
        }
    } else if msg.contains("required revision is a future revision") {
        StorageError::FutureRevision(0)
    } else if s.code() == tonic::Code::Unavailable {
        StorageError::Unavailable(msg.to_string())
    } else {
        StorageError::Internal(format!("{:?}: {msg}", s.code()))
    }
}
