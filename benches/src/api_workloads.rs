//! The Kubernetes API workloads of `api-compare`, on the paths kubectl and client-go use:
//! create (POST), get by name, list (whole, or `limit=500` pages walking `continue`),
//! update (PUT with the object's resourceVersion) and watch latency (a watch from the
//! current resourceVersion; time from just before a PUT is sent to its event arriving).
//! Each builds its clients and hands the request loop to [`load::drive`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api_client::{Conn, Target};
use crate::load::{drive, LoadOpts, Worker};
use crate::stats::{Recorder, Report};

/// The namespace every workload uses.
pub const NS: &str = "bench";

/// The annotation carrying the send time (µs since the watch run's start) of an update.
const SENT_US: &str = "kv-bench/sent-us";
/// The annotation every update changes (so no update is a no-op).
const SEQ: &str = "kv-bench/seq";

/// Pod `i`'s name.
pub fn pod_name(i: u64) -> String {
    format!("pod-{i:06}")
}

/// A small, realistic pod: one container with requests, limits, a port and an env var.
pub fn pod_json(i: u64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(i),
            "namespace": NS,
            "labels": {"app": "bench", "tier": format!("t{}", i % 10)}
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.k8s.io/pause:3.2",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "bench"}],
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"cpu": "100m", "memory": "64Mi"}
                }
            }],
            "restartPolicy": "Always"
        }
    })
}

/// `clients` connection handles: over HTTP/2 `conns` connections shared round-robin, over
/// HTTP/1.1 one connection per client.
pub async fn connect(target: &Target, clients: usize, conns: usize) -> Result<Vec<Conn>> {
    let clients = clients.max(1);
    let mut out = Vec::with_capacity(clients);
    if target.http2 {
        let mut base = Vec::new();
        for _ in 0..conns.clamp(1, clients) {
            base.push(target.connect().await?);
        }
        for i in 0..clients {
            let c: &Conn = &base[i % base.len()];
            out.push(c.share().context("an h2 connection can be shared")?);
        }
    } else {
        for _ in 0..clients {
            out.push(target.connect().await?);
        }
    }
    Ok(out)
}

/// Creates the namespace (setup; an existing one is fine).
pub async fn create_namespace(target: &Target) -> Result<()> {
    let mut c = target.connect().await?;
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c
            .request(Method::POST, "/api/v1/namespaces", Some(Bytes::from(body.to_string())))
            .await;
        match r {
            Ok(r) if r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT => return Ok(()),
            Ok(r) if Instant::now() > deadline => anyhow::bail!("create namespace {NS}: {}", r.error_kind()),
            Err(e) if Instant::now() > deadline => anyhow::bail!("create namespace {NS}: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn pods_path() -> String {
    format!("/api/v1/namespaces/{NS}/pods")
}

// ---------------------------------------------------------------- create

struct CreateWorker {
    c: Conn,
    first: u64,
}

impl Worker for CreateWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let body = Bytes::from(pod_json(self.first + seq).to_string());
        let r = self.c.request(Method::POST, &pods_path(), Some(body)).await?;
        if r.status == StatusCode::CREATED {
            Ok(())
        } else {
            Err(r.error_kind())
        }
    }
}

/// Creates pods `first .. first + opts.total`, one POST per request.
pub async fn create(name: &str, target: &Target, opts: &LoadOpts, first: u64) -> Result<(Report, Recorder)> {
    let workers = connect(target, opts.clients(), opts.conns())
        .await?
        .into_iter()
        .map(|c| CreateWorker { c, first })
        .collect();
    drive(name, opts, workers).await
}

// ---------------------------------------------------------------- get

struct GetWorker {
    c: Conn,
    rng: StdRng,
    pods: u64,
    bytes: Arc<AtomicU64>,
}

impl Worker for GetWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        let i = self.rng.gen_range(0..self.pods.max(1));
        let r = self
            .c
            .request(Method::GET, &format!("{}/{}", pods_path(), pod_name(i)), None)
            .await?;
        if r.status == StatusCode::OK {
            self.bytes.fetch_add(r.body.len() as u64, Ordering::Relaxed);
            Ok(())
        } else {
            Err(r.error_kind())
        }
    }
}

/// Gets a random one of pods `0 .. pods` by name.
pub async fn get(name: &str, target: &Target, opts: &LoadOpts, pods: u64) -> Result<(Report, Recorder)> {
    let bytes = Arc::new(AtomicU64::new(0));
    let workers = connect(target, opts.clients(), opts.conns())
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, c)| GetWorker {
            c,
            rng: StdRng::seed_from_u64(0x6b76_6170_6900 ^ i as u64),
            pods,
            bytes: bytes.clone(),
        })
        .collect();
    let (mut report, rec) = drive(name, opts, workers).await?;
    if report.ok > 0 {
        let b = bytes.load(Ordering::Relaxed) as f64 / report.ok as f64;
        report.extra.insert("response_bytes".into(), b.round());
    }
    Ok((report, rec))
}

// ---------------------------------------------------------------- list

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
    #[serde(default, rename = "continue")]
    cont: String,
}

/// A list response with its items counted, not decoded.
#[derive(Deserialize)]
struct ListBody {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<IgnoredAny>,
}

struct ListWorker {
    c: Conn,
    limit: Option<u32>,
    expect: u64,
    bytes: Arc<AtomicU64>,
    pages: Arc<AtomicU64>,
}

impl Worker for ListWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        let mut cont = String::new();
        let (mut items, mut bytes, mut pages) = (0u64, 0u64, 0u64);
        loop {
            let path = match self.limit {
                None => pods_path(),
                Some(l) if cont.is_empty() => format!("{}?limit={l}", pods_path()),
                Some(l) => format!("{}?limit={l}&continue={}", pods_path(), query_escape(&cont)),
            };
            let r = self.c.request(Method::GET, &path, None).await?;
            if r.status != StatusCode::OK {
                return Err(r.error_kind());
            }
            bytes += r.body.len() as u64;
            pages += 1;
            let body: ListBody = serde_json::from_slice(&r.body).map_err(|e| format!("client: bad list JSON: {e}"))?;
            items += body.items.len() as u64;
            cont = body.metadata.cont;
            if cont.is_empty() || self.limit.is_none() {
                break;
            }
        }
        if items == self.expect {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.pages.fetch_add(pages, Ordering::Relaxed);
            Ok(())
        } else {
            Err(format!("client: list returned {items} pods, expected {}", self.expect))
        }
    }
}

/// `s` percent-encoded for a query value (continue tokens are base64: `=`, `+`, `/`).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lists every pod of the namespace (`limit`: in pages, walking `continue`); one request
/// = one whole listing, which must hold `expect` pods.
pub async fn list(
    name: &str,
    target: &Target,
    opts: &LoadOpts,
    limit: Option<u32>,
    expect: u64,
) -> Result<(Report, Recorder)> {
    let bytes = Arc::new(AtomicU64::new(0));
    let pages = Arc::new(AtomicU64::new(0));
    let workers = connect(target, opts.clients(), opts.conns())
        .await?
        .into_iter()
        .map(|c| ListWorker {
            c,
            limit,
            expect,
            bytes: bytes.clone(),
            pages: pages.clone(),
        })
        .collect();
    let (mut report, rec) = drive(name, opts, workers).await?;
    // Sizes of the successful listings only.
    if report.ok > 0 {
        let n = report.ok as f64;
        let x = &mut report.extra;
        x.insert(
            "bytes_per_list".into(),
            (bytes.load(Ordering::Relaxed) as f64 / n).round(),
        );
        x.insert("pages_per_list".into(), pages.load(Ordering::Relaxed) as f64 / n);
    }
    Ok((report, rec))
}

/// Every pod of the namespace as JSON (setup for updates; not measured), with the list's
/// resourceVersion.
pub async fn all_pods(target: &Target) -> Result<(Vec<Value>, String)> {
    let mut c = target.connect().await?;
    let r = c
        .request(Method::GET, &pods_path(), None)
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(r.status == StatusCode::OK, "list pods: {}", r.error_kind());
    let mut v: Value = serde_json::from_slice(&r.body).context("list pods: bad JSON")?;
    let rv = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let items = match v.get_mut("items").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    Ok((items, rv))
}

/// `GET path` as JSON (setup and records; not measured).
pub async fn get_json(target: &Target, path: &str) -> Result<Value> {
    let mut c = target.connect().await?;
    let r = c.request(Method::GET, path, None).await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(r.status == StatusCode::OK, "GET {path}: {}", r.error_kind());
    serde_json::from_slice(&r.body).with_context(|| format!("GET {path}: bad JSON"))
}

/// The namespace's pods list resourceVersion now (a `limit=1` list, as a reflector's
/// list-then-watch would see it).
pub async fn current_rv(target: &Target) -> Result<String> {
    let mut c = target.connect().await?;
    let r = c
        .request(Method::GET, &format!("{}?limit=1", pods_path()), None)
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(r.status == StatusCode::OK, "list pods: {}", r.error_kind());
    let body: ListBody = serde_json::from_slice(&r.body).context("list pods: bad JSON")?;
    Ok(body.metadata.resource_version)
}

// ---------------------------------------------------------------- update

struct UpdateWorker {
    c: Conn,
    objs: Vec<Value>,
    next: usize,
    /// Stamp each update with its send time relative to this instant (watch runs).
    stamp: Option<Instant>,
}

impl Worker for UpdateWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        if self.objs.is_empty() {
            return Err("client: no pods to update".into());
        }
        let i = self.next % self.objs.len();
        self.next = self.next.wrapping_add(1);
        let obj = &mut self.objs[i];
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        obj["apiVersion"] = json!("v1");
        obj["kind"] = json!("Pod");
        if !obj["metadata"]["annotations"].is_object() {
            obj["metadata"]["annotations"] = json!({});
        }
        obj["metadata"]["annotations"][SEQ] = json!(seq.to_string());
        if let Some(base) = self.stamp {
            obj["metadata"]["annotations"][SENT_US] = json!(base.elapsed().as_micros().to_string());
        }
        let body = Bytes::from(obj.to_string());
        let r = self
            .c
            .request(Method::PUT, &format!("{}/{name}", pods_path()), Some(body))
            .await?;
        if r.status == StatusCode::OK {
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(v) => {
                    self.objs[i] = v;
                    Ok(())
                }
                Err(e) => Err(format!("client: bad PUT response JSON: {e}")),
            }
        } else {
            // A conflict (someone else wrote it): take the current object and go on.
            if r.status == StatusCode::CONFLICT {
                if let Ok(g) = self
                    .c
                    .request(Method::GET, &format!("{}/{name}", pods_path()), None)
                    .await
                {
                    if let Ok(v) = serde_json::from_slice::<Value>(&g.body) {
                        self.objs[i] = v;
                    }
                }
            }
            Err(r.error_kind())
        }
    }
}

/// Splits `pods` over `clients` update workers (each owns its own pods, so no conflicts).
async fn update_workers(
    target: &Target,
    opts: &LoadOpts,
    pods: Vec<Value>,
    stamp: Option<Instant>,
) -> Result<Vec<UpdateWorker>> {
    let conns = connect(target, opts.clients(), opts.conns()).await?;
    let n = conns.len();
    let mut shares: Vec<Vec<Value>> = (0..n).map(|_| Vec::new()).collect();
    for (i, p) in pods.into_iter().enumerate() {
        shares[i % n].push(p);
    }
    Ok(conns
        .into_iter()
        .zip(shares)
        .map(|(c, objs)| UpdateWorker {
            c,
            objs,
            next: 0,
            stamp,
        })
        .collect())
}

/// PUTs of whole pods (read once beforehand), each with the resourceVersion the previous
/// write returned; one annotation changes per update.
pub async fn update(name: &str, target: &Target, opts: &LoadOpts) -> Result<(Report, Recorder)> {
    let (pods, _) = all_pods(target).await?;
    let workers = update_workers(target, opts, pods, None).await?;
    drive(name, opts, workers).await
}

// ---------------------------------------------------------------- watch

/// `watchers` watches of the namespace's pods from the current resourceVersion (each on its
/// own connection), while `opts.clients` writers PUT pods at `opts.rate` per second; every
/// MODIFIED event is timed from just before its PUT was sent. One "request" = one event
/// delivered to one watcher.
pub async fn watch(name: &str, target: &Target, opts: &LoadOpts, watchers: usize) -> Result<(Report, Recorder)> {
    let (pods, _) = all_pods(target).await?;
    let rv = current_rv(target).await?;
    let base = Instant::now();
    let rec = Arc::new(Mutex::new(Recorder::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let path = format!(
        "{}?allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds=600&watch=1",
        pods_path(),
        query_escape(&rv)
    );
    let mut tasks = Vec::new();
    for _ in 0..watchers.max(1) {
        let mut c = target.connect().await?;
        let (rec, seen, open, path) = (rec.clone(), seen.clone(), open.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = match c.watch(&path).await {
                Ok(s) => s,
                Err(e) => {
                    lock(&rec).err(format!("watch: {e:#}"));
                    return;
                }
            };
            open.fetch_add(1, Ordering::Relaxed);
            let mut got: HashSet<String> = HashSet::new();
            loop {
                let ev = match stream.next().await {
                    Ok(Some(ev)) => ev,
                    Ok(None) => break,
                    Err(e) => {
                        lock(&rec).err(format!("watch: {e:#}"));
                        break;
                    }
                };
                let now = base.elapsed();
                match ev["type"].as_str() {
                    Some("MODIFIED") => {}
                    Some("ERROR") => {
                        let msg = ev["object"]["message"].as_str().unwrap_or("?");
                        lock(&rec).err(format!("watch: ERROR event: {msg}"));
                        break;
                    }
                    _ => continue,
                }
                let ann = &ev["object"]["metadata"]["annotations"];
                let sent = ann[SENT_US].as_str().and_then(|s| s.parse::<u64>().ok());
                let seq = ann[SEQ].as_str().unwrap_or_default().to_string();
                if let Some(sent) = sent {
                    if got.insert(seq) {
                        lock(&rec).ok(now.saturating_sub(Duration::from_micros(sent)));
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Every watch has its response headers (so it is registered) before the first write.
    let until = Instant::now() + Duration::from_secs(10);
    while open.load(Ordering::Relaxed) < watchers.max(1) as u64 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opened = open.load(Ordering::Relaxed);
    let workers = update_workers(target, opts, pods, Some(base)).await?;
    let start = Instant::now();
    let (put_report, _) = drive(&format!("{name} puts"), opts, workers).await?;
    let expected = put_report.ok * watchers.max(1) as u64;
    let drain_until = Instant::now() + Duration::from_secs(5);
    while seen.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    for t in &tasks {
        t.abort();
    }
    let mut rec = lock(&rec).clone();
    for (k, v) in &put_report.error_kinds {
        *rec.errors.entry(format!("put: {k}")).or_default() += v;
    }
    let mut report = Report::new(name, &rec, elapsed);
    report.endpoints = opts.endpoints.clone();
    report.clients = opts.clients();
    report.conns = opts.conns();
    let delivered = seen.load(Ordering::Relaxed);
    let x = &mut report.extra;
    x.insert("watchers".into(), watchers as f64);
    x.insert("watches_open_before_writes".into(), opened as f64);
    x.insert("puts".into(), put_report.ok as f64);
    x.insert("put_throughput".into(), put_report.throughput);
    x.insert("put_p50_ms".into(), put_report.latency_ms.p50);
    x.insert("put_p99_ms".into(), put_report.latency_ms.p99);
    x.insert("expected_events".into(), expected as f64);
    x.insert("missing_events".into(), expected.saturating_sub(delivered) as f64);
    Ok((report, rec))
}

fn lock(m: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::{pod_json, pod_name, query_escape, ListBody};

    #[test]
    fn pods_and_names() {
        assert_eq!(pod_name(42), "pod-000042");
        let p = pod_json(7);
        assert_eq!(p["metadata"]["name"], "pod-000007");
        assert_eq!(p["metadata"]["labels"]["tier"], "t7");
        assert_eq!(p["spec"]["containers"][0]["resources"]["requests"]["cpu"], "10m");
    }

    #[test]
    fn continue_tokens_are_escaped() {
        assert_eq!(query_escape("eyJ2Ijoi+/=="), "eyJ2Ijoi%2B%2F%3D%3D");
        assert_eq!(query_escape("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn list_bodies_are_counted_not_decoded() {
        let b = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"x"},"items":[{"a":1},{"b":[2]}]}"#;
        let l: ListBody = match serde_json::from_slice(b) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            (
                l.items.len(),
                l.metadata.cont.as_str(),
                l.metadata.resource_version.as_str()
            ),
            (2, "x", "9")
        );
        let empty: ListBody = match serde_json::from_slice(br#"{"metadata":{}}"#) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert!(empty.items.is_empty() && empty.metadata.cont.is_empty());
    }
}
