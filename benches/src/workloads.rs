//! The workloads: each builds its clients, prefills what it reads, and hands the request
//! loop to [`load::drive`]. Keys are `prefix` + a zero-padded number `key_size` digits wide.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proto::etcdserverpb::{
    compare::{CompareResult, CompareTarget, TargetUnion},
    kv_client::KvClient,
    lease_client::LeaseClient,
    request_op, response_op,
    watch_client::WatchClient,
    watch_request, Compare, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, PutRequest, RangeRequest,
    RequestOp, TxnRequest, WatchCreateRequest, WatchRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

use crate::load::{connect, drive, status_kind, LoadOpts, Worker};
use crate::stats::{Recorder, Report};

/// Key and value shapes shared by the workloads.
#[derive(Clone, Debug)]
pub struct Shape {
    pub prefix: String,
    pub key_size: usize,
    pub val_size: usize,
    pub key_space: u64,
    pub sequential: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            prefix: "bench/".into(),
            key_size: 8,
            val_size: 256,
            key_space: 10_000,
            sequential: false,
        }
    }
}

impl Shape {
    pub fn key(&self, n: u64) -> Vec<u8> {
        format!("{}{:0w$}", self.prefix, n, w = self.key_size).into_bytes()
    }

    pub fn value(&self) -> Vec<u8> {
        vec![b'v'; self.val_size]
    }

    fn space(&self) -> u64 {
        self.key_space.max(1)
    }
}

/// The end of the range holding every key that starts with `prefix`.
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

fn rng_for(client: usize) -> StdRng {
    StdRng::seed_from_u64(0x6b76_6265_6e63_6800 ^ client as u64)
}

fn clients_over(chans: &[Channel], n: usize) -> Vec<KvClient<Channel>> {
    (0..n).map(|i| KvClient::new(chans[i % chans.len()].clone())).collect()
}

/// Writes `keys` with `value` using up to 16 concurrent requests (setup, not measured).
pub async fn prefill(chans: &[Channel], keys: Vec<Vec<u8>>, value: Vec<u8>) -> Result<()> {
    let keys = Arc::new(keys);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut c in clients_over(chans, 16.min(keys.len().max(1))) {
        let keys = keys.clone();
        let next = next.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(key) = keys.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                c.put(PutRequest {
                    key: key.clone(),
                    value: value.clone(),
                    ..Default::default()
                })
                .await
                .context("prefill put")?;
            }
        }));
    }
    for t in tasks {
        t.await.context("prefill task")??;
    }
    Ok(())
}

// ---------------------------------------------------------------- put

struct PutWorker {
    c: KvClient<Channel>,
    shape: Shape,
    val: Vec<u8>,
    rng: StdRng,
}

impl Worker for PutWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let n = if self.shape.sequential {
            seq % self.shape.space()
        } else {
            self.rng.gen_range(0..self.shape.space())
        };
        let req = PutRequest {
            key: self.shape.key(n),
            value: self.val.clone(),
            ..Default::default()
        };
        self.c.put(req).await.map(|_| ()).map_err(|s| status_kind(&s))
    }
}

/// `put`: one Put per request.
pub async fn put(opts: &LoadOpts, shape: &Shape) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let workers = clients_over(&chans, opts.clients())
        .into_iter()
        .enumerate()
        .map(|(i, c)| PutWorker {
            c,
            shape: shape.clone(),
            val: shape.value(),
            rng: rng_for(i),
        })
        .collect();
    drive("put", opts, workers).await
}

// ---------------------------------------------------------------- range

/// What `range` reads.
#[derive(Clone, Debug)]
pub struct RangeOpts {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub serializable: bool,
    pub limit: i64,
    pub count_only: bool,
    /// Keys written under `key` before the run (1 = `key` itself; 0 = none).
    pub prefill: u64,
}

struct RangeWorker {
    c: KvClient<Channel>,
    req: RangeRequest,
}

impl Worker for RangeWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        self.c
            .range(self.req.clone())
            .await
            .map(|_| ())
            .map_err(|s| status_kind(&s))
    }
}

/// `range`: one Range per request (linearizable unless `serializable`).
pub async fn range(opts: &LoadOpts, shape: &Shape, r: &RangeOpts) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let keys: Vec<Vec<u8>> = match r.prefill {
        0 => Vec::new(),
        1 => vec![r.key.clone()],
        n => (0..n)
            .map(|i| {
                let mut k = r.key.clone();
                k.extend_from_slice(format!("{i:0w$}", w = shape.key_size).as_bytes());
                k
            })
            .collect(),
    };
    prefill(&chans, keys, shape.value()).await?;
    let req = RangeRequest {
        key: r.key.clone(),
        range_end: r.range_end.clone(),
        limit: r.limit,
        serializable: r.serializable,
        count_only: r.count_only,
        ..Default::default()
    };
    let workers = clients_over(&chans, opts.clients())
        .into_iter()
        .map(|c| RangeWorker { c, req: req.clone() })
        .collect();
    let name = if r.serializable {
        "range (serializable)"
    } else {
        "range (linearizable)"
    };
    drive(name, opts, workers).await
}

// ---------------------------------------------------------------- txn-put

fn mod_rev_equals(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Mod as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::ModRevision(rev)),
        ..Default::default()
    }
}

/// kube-apiserver's write: `if mod_revision(key) == known { put } else { get }`.
fn cas_put(key: &[u8], known: i64, value: &[u8]) -> TxnRequest {
    TxnRequest {
        compare: vec![mod_rev_equals(key, known)],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key.to_vec(),
                value: value.to_vec(),
                ..Default::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(request_op::Request::RequestRange(RangeRequest {
                key: key.to_vec(),
                ..Default::default()
            })),
        }],
    }
}

/// Runs one compare-and-put; on a conflict learns the current mod_revision. Returns
/// whether the put happened.
async fn cas_once(
    c: &mut KvClient<Channel>,
    known: &mut HashMap<Vec<u8>, i64>,
    key: &[u8],
    value: &[u8],
) -> Result<bool, String> {
    let rev = known.get(key).copied().unwrap_or(0);
    let resp = c
        .txn(cas_put(key, rev, value))
        .await
        .map_err(|s| status_kind(&s))?
        .into_inner();
    if resp.succeeded {
        let rev = resp.header.map(|h| h.revision).unwrap_or(0);
        known.insert(key.to_vec(), rev);
        return Ok(true);
    }
    let current = resp
        .responses
        .into_iter()
        .find_map(|r| match r.response {
            Some(response_op::Response::ResponseRange(rr)) => {
                Some(rr.kvs.first().map(|kv| kv.mod_revision).unwrap_or(0))
            }
            _ => None,
        })
        .ok_or_else(|| "client: failed txn without a range response".to_string())?;
    known.insert(key.to_vec(), current);
    Ok(false)
}

struct TxnPutWorker {
    c: KvClient<Channel>,
    shape: Shape,
    val: Vec<u8>,
    rng: StdRng,
    client: u64,
    clients: u64,
    known: HashMap<Vec<u8>, i64>,
    conflicts: Arc<AtomicU64>,
}

impl Worker for TxnPutWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        // Each client owns every `clients`-th key, so conflicts only come from stale state
        // left by an earlier run (learned on first touch), never from other clients.
        let per = (self.shape.space() / self.clients).max(1);
        let n = self.client + self.clients * self.rng.gen_range(0..per);
        let key = self.shape.key(n);
        if !cas_once(&mut self.c, &mut self.known, &key, &self.val).await? {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// `txn-put`: one compare(mod_revision)-and-put Txn per request.
pub async fn txn_put(opts: &LoadOpts, shape: &Shape) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let conflicts = Arc::new(AtomicU64::new(0));
    let clients = opts.clients() as u64;
    let workers = clients_over(&chans, opts.clients())
        .into_iter()
        .enumerate()
        .map(|(i, c)| TxnPutWorker {
            c,
            shape: shape.clone(),
            val: shape.value(),
            rng: rng_for(i),
            client: i as u64,
            clients,
            known: HashMap::new(),
            conflicts: conflicts.clone(),
        })
        .collect();
    let (mut report, rec) = drive("txn-put", opts, workers).await?;
    report
        .extra
        .insert("conflicts".into(), conflicts.load(Ordering::Relaxed) as f64);
    Ok((report, rec))
}

// ---------------------------------------------------------------- watch

/// Watchers on one prefix, and the puts that feed them.
#[derive(Clone, Debug)]
pub struct WatchOpts {
    pub watchers: usize,
    /// gRPC Watch streams the watchers are spread over.
    pub streams: usize,
    /// How long to wait for the last events after the last put.
    pub drain: Duration,
}

/// Nanoseconds since `base`, in the first 8 bytes of a value of at least `size` bytes.
fn stamped_value(base: Instant, size: usize) -> Vec<u8> {
    let mut v = (base.elapsed().as_nanos() as u64).to_be_bytes().to_vec();
    v.resize(size.max(8), b'v');
    v
}

fn stamp_of(value: &[u8]) -> Option<Duration> {
    let b: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(Duration::from_nanos(u64::from_be_bytes(b)))
}

struct StampedPutWorker {
    c: KvClient<Channel>,
    shape: Shape,
    base: Instant,
}

impl Worker for StampedPutWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let req = PutRequest {
            key: self.shape.key(seq % self.shape.space()),
            value: stamped_value(self.base, self.shape.val_size),
            ..Default::default()
        };
        self.c.put(req).await.map(|_| ()).map_err(|s| status_kind(&s))
    }
}

/// Opens one Watch stream with `n` watchers on `[key, end)` and waits until all are
/// created. The sender must stay alive as long as the stream is read.
async fn open_watch_stream(
    ch: Channel,
    key: &[u8],
    end: &[u8],
    n: usize,
) -> Result<(
    mpsc::Sender<WatchRequest>,
    Streaming<proto::etcdserverpb::WatchResponse>,
)> {
    let (tx, rx) = mpsc::channel(n.max(1) + 1);
    for _ in 0..n {
        tx.send(WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(WatchCreateRequest {
                key: key.to_vec(),
                range_end: end.to_vec(),
                ..Default::default()
            })),
        })
        .await
        .context("queue watch create")?;
    }
    let mut stream = WatchClient::new(ch)
        .watch(ReceiverStream::new(rx))
        .await
        .context("open watch stream")?
        .into_inner();
    let mut created = 0;
    while created < n {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .context("timed out waiting for watch creation")?
            .context("watch stream")?
            .context("watch stream closed during creation")?;
        if msg.canceled {
            anyhow::bail!("watch canceled at creation: {}", msg.cancel_reason);
        }
        if msg.created {
            created += 1;
        }
    }
    Ok((tx, stream))
}

/// `watch-latency` / `watch-fanout`: `watchers` watch the prefix, puts go in at `--rate`
/// (0 = as fast as possible); every delivered event is timed from just before its Put
/// was sent. `ok` counts events delivered; extra.missing_events counts those never seen.
pub async fn watch(name: &str, opts: &LoadOpts, shape: &Shape, w: &WatchOpts) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let key = shape.prefix.as_bytes().to_vec();
    let end = prefix_end(&key);
    let streams = w.streams.clamp(1, w.watchers.max(1));
    let base = Instant::now();
    let rec = Arc::new(Mutex::new(Recorder::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for s in 0..streams {
        let n = w.watchers / streams + usize::from(s < w.watchers % streams);
        let (tx, mut stream) = open_watch_stream(chans[s % chans.len()].clone(), &key, &end, n).await?;
        senders.push(tx);
        let rec = rec.clone();
        let seen = seen.clone();
        receivers.push(tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                let now = base.elapsed();
                let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
                for ev in msg.events {
                    match ev.kv.as_ref().and_then(|kv| stamp_of(&kv.value)) {
                        Some(sent) => r.ok(now.saturating_sub(sent)),
                        None => r.err("client: event without a timestamp"),
                    }
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let workers = clients_over(&chans, opts.clients())
        .into_iter()
        .map(|c| StampedPutWorker {
            c,
            shape: shape.clone(),
            base,
        })
        .collect();
    let start = Instant::now();
    let (put_report, _) = drive(&format!("{name} puts"), opts, workers).await?;
    let expected = put_report.ok * w.watchers as u64;
    let drain_until = Instant::now() + w.drain;
    while seen.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    for r in &receivers {
        r.abort();
    }
    drop(senders);
    let mut rec = rec.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for (k, v) in &put_report.error_kinds {
        *rec.errors.entry(format!("put: {k}")).or_default() += v;
    }
    let mut report = Report::new(name, &rec, elapsed);
    report.endpoints = opts.endpoints.clone();
    report.clients = opts.clients();
    report.conns = opts.conns();
    let delivered = seen.load(Ordering::Relaxed);
    let x = &mut report.extra;
    x.insert("watchers".into(), w.watchers as f64);
    x.insert("streams".into(), streams as f64);
    x.insert("puts".into(), put_report.ok as f64);
    x.insert("put_throughput".into(), put_report.throughput);
    x.insert("put_p99_ms".into(), put_report.latency_ms.p99);
    x.insert("expected_events".into(), expected as f64);
    x.insert("missing_events".into(), expected.saturating_sub(delivered) as f64);
    Ok((report, rec))
}

// ---------------------------------------------------------------- lease-keepalive

struct KeepAliveWorker {
    id: i64,
    tx: mpsc::Sender<LeaseKeepAliveRequest>,
    rx: Streaming<LeaseKeepAliveResponse>,
}

impl Worker for KeepAliveWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        self.tx
            .send(LeaseKeepAliveRequest { id: self.id })
            .await
            .map_err(|_| "client: keepalive stream closed".to_string())?;
        match self.rx.message().await {
            Ok(Some(r)) if r.ttl > 0 => Ok(()),
            Ok(Some(_)) => Err("keepalive: lease not found (ttl <= 0)".into()),
            Ok(None) => Err("keepalive: stream ended".into()),
            Err(s) => Err(status_kind(&s)),
        }
    }
}

/// `lease-keepalive`: each client holds one lease and renews it on its own stream; one
/// request = one keepalive round trip.
pub async fn lease_keepalive(opts: &LoadOpts) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let mut workers = Vec::new();
    for i in 0..opts.clients() {
        let mut c = LeaseClient::new(chans[i % chans.len()].clone());
        let id = c
            .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
            .await
            .context("lease grant")?
            .into_inner()
            .id;
        let (tx, rx) = mpsc::channel(2);
        // The server answers (and so sends headers) only once a request arrives.
        tx.send(LeaseKeepAliveRequest { id }).await.context("first keepalive")?;
        let mut rx = c
            .lease_keep_alive(ReceiverStream::new(rx))
            .await
            .context("open keepalive stream")?
            .into_inner();
        rx.message()
            .await
            .context("first keepalive")?
            .context("keepalive stream ended")?;
        workers.push(KeepAliveWorker { id, tx, rx });
    }
    drive("lease-keepalive", opts, workers).await
}

// ---------------------------------------------------------------- mixed

/// The Kubernetes-like mix.
#[derive(Clone, Debug)]
pub struct MixedOpts {
    /// Percent of requests that are reads (the rest are compare-and-puts).
    pub read_pct: u32,
    /// Of the reads, percent that are list pages (the rest are single-key gets).
    pub list_pct: u32,
    pub page_size: i64,
    /// Watch streams, each on one resource prefix.
    pub watchers: usize,
}

impl Default for MixedOpts {
    fn default() -> Self {
        MixedOpts {
            read_pct: 80,
            list_pct: 50,
            page_size: 100,
            watchers: 8,
        }
    }
}

const RESOURCES: [&str; 4] = ["pods", "configmaps", "leases", "events"];

fn resource_prefix(shape: &Shape, res: usize) -> Vec<u8> {
    format!("{}registry/{}/", shape.prefix, RESOURCES[res % RESOURCES.len()]).into_bytes()
}

fn object_key(shape: &Shape, n: u64) -> Vec<u8> {
    let res = (n % RESOURCES.len() as u64) as usize;
    let ns = (n / RESOURCES.len() as u64) % 10;
    let mut k = resource_prefix(shape, res);
    k.extend_from_slice(format!("ns{ns:02}/obj{n:0w$}", w = shape.key_size).as_bytes());
    k
}

#[derive(Default)]
struct MixedCounters {
    gets: AtomicU64,
    pages: AtomicU64,
    lists: AtomicU64,
    updates: AtomicU64,
    conflicts: AtomicU64,
}

struct MixedWorker {
    c: KvClient<Channel>,
    shape: Shape,
    mix: MixedOpts,
    val: Vec<u8>,
    rng: StdRng,
    known: HashMap<Vec<u8>, i64>,
    /// An unfinished list: next key, end, and the revision its first page was read at.
    cursor: Option<(Vec<u8>, Vec<u8>, i64)>,
    n: Arc<MixedCounters>,
}

impl MixedWorker {
    async fn list_page(&mut self) -> Result<(), String> {
        let (key, end, rev) = match self.cursor.take() {
            Some(c) => c,
            None => {
                let p = resource_prefix(&self.shape, self.rng.gen_range(0..RESOURCES.len()));
                let e = prefix_end(&p);
                (p, e, 0)
            }
        };
        let resp = self
            .c
            .range(RangeRequest {
                key,
                range_end: end.clone(),
                limit: self.mix.page_size,
                revision: rev,
                ..Default::default()
            })
            .await
            .map_err(|s| status_kind(&s))?
            .into_inner();
        self.n.pages.fetch_add(1, Ordering::Relaxed);
        match resp.kvs.last() {
            Some(last) if resp.more => {
                let mut next = last.key.clone();
                next.push(0);
                let rev = resp.header.map(|h| h.revision).unwrap_or(0);
                self.cursor = Some((next, end, rev));
            }
            _ => {
                self.n.lists.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn update(&mut self) -> Result<(), String> {
        let key = object_key(&self.shape, self.rng.gen_range(0..self.shape.space()));
        // GuaranteedUpdate: retry on conflict with the freshly read revision.
        for _ in 0..5 {
            if cas_once(&mut self.c, &mut self.known, &key, &self.val).await? {
                self.n.updates.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            self.n.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        Err("client: update kept conflicting (5 tries)".into())
    }
}

impl Worker for MixedWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        let roll = self.rng.gen_range(0..100);
        if roll >= self.mix.read_pct {
            return self.update().await;
        }
        if self.cursor.is_some() || self.rng.gen_range(0..100) < self.mix.list_pct {
            return self.list_page().await;
        }
        let key = object_key(&self.shape, self.rng.gen_range(0..self.shape.space()));
        self.c
            .range(RangeRequest {
                key,
                ..Default::default()
            })
            .await
            .map_err(|s| status_kind(&s))?;
        self.n.gets.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `mixed`: `key_space` objects over four resource prefixes; reads are single-key gets
/// and list pages (`limit`, continued at the first page's revision), writes are kube-style
/// compare-and-puts; `watchers` streams watch the resource prefixes meanwhile.
pub async fn mixed(opts: &LoadOpts, shape: &Shape, mix: &MixedOpts) -> Result<(Report, Recorder)> {
    let chans = connect(&opts.endpoints, opts.conns(), opts.tls.as_ref()).await?;
    let keys = (0..shape.space()).map(|n| object_key(shape, n)).collect();
    prefill(&chans, keys, shape.value()).await?;
    let events = Arc::new(AtomicU64::new(0));
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..mix.watchers {
        let p = resource_prefix(shape, i);
        let (tx, mut stream) = open_watch_stream(chans[i % chans.len()].clone(), &p, &prefix_end(&p), 1).await?;
        senders.push(tx);
        let events = events.clone();
        receivers.push(tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                events.fetch_add(msg.events.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    let n = Arc::new(MixedCounters::default());
    let workers = clients_over(&chans, opts.clients())
        .into_iter()
        .enumerate()
        .map(|(i, c)| MixedWorker {
            c,
            shape: shape.clone(),
            mix: mix.clone(),
            val: shape.value(),
            rng: rng_for(i),
            known: HashMap::new(),
            cursor: None,
            n: n.clone(),
        })
        .collect();
    let (mut report, rec) = drive("mixed", opts, workers).await?;
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for r in &receivers {
        r.abort();
    }
    drop(senders);
    let x = &mut report.extra;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    x.insert("gets".into(), get(&n.gets));
    x.insert("list_pages".into(), get(&n.pages));
    x.insert("lists_completed".into(), get(&n.lists));
    x.insert("updates".into(), get(&n.updates));
    x.insert("update_conflicts".into(), get(&n.conflicts));
    x.insert("watch_events".into(), get(&events));
    Ok((report, rec))
}
