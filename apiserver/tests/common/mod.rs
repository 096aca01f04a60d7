//! Test harness: a store (Debian etcd 3.4 by default, or `kv`), apiserver
//! processes and an isolated kubectl, all on free loopback ports, killed on drop.
//!
//! Store selection: `APISERVER_TEST_ETCD=kv` starts `$APISERVER_TEST_KV_BIN`
//! (default `$CARGO_TARGET_DIR/debug/kv`) with etcd's flags;
//! `APISERVER_TEST_ETCD=http://host:port` uses a running store;
//! anything else (or unset) starts `/usr/bin/etcd`.
//! `http` is the HTTP(S) client; `stock` starts a stock kube-apiserver v1.20.2.
#![allow(dead_code)]

mod http;
mod stock;

#[allow(unused_imports)]
pub use http::{Http, Watch};
#[allow(unused_imports)]
pub use stock::{stock_kube_apiserver, StockApiServer, STOCK_TOKEN};

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Polls `f` (every 100 ms) until it returns Some; fails the test after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether nothing listens on 127.0.0.1:`port` (a fixed port the code under test probes).
pub fn free_port_is(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A child process killed (and reaped) on drop.
pub struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Store {
    pub endpoint: String,
    _proc: Option<Proc>,
    _dir: Option<tempfile::TempDir>,
}

fn wait_tcp(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Store {
    pub fn start() -> Store {
        let choice = std::env::var("APISERVER_TEST_ETCD").unwrap_or_default();
        if choice.starts_with("http://") {
            return Store {
                endpoint: choice,
                _proc: None,
                _dir: None,
            };
        }
        let bin = if choice == "kv" {
            std::env::var("APISERVER_TEST_KV_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
                    PathBuf::from(target).join("debug").join("kv")
                })
        } else {
            PathBuf::from("/usr/bin/etcd")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (cp, pp) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{cp}");
        let peer = format!("http://127.0.0.1:{pp}");
        let child = Command::new(&bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("default={peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let p = Proc(child);
        wait_tcp(cp, "store");
        Store {
            endpoint: client,
            _proc: Some(p),
            _dir: Some(dir),
        }
    }
}

pub struct ApiServer {
    pub port: u16,
    pub url: String,
    pub http: Http,
    proc: Proc,
}

impl ApiServer {
    pub fn start(etcd_servers: &str) -> ApiServer {
        Self::start_with(etcd_servers, &[])
    }

    /// Without in-process controllers and scheduler unless `extra` names them.
    pub fn start_with(etcd_servers: &str, extra: &[&str]) -> ApiServer {
        let port = free_port();
        let mut defaults = Vec::new();
        if !extra.iter().any(|a| a.starts_with("--controllers")) {
            defaults.push("--controllers=");
        }
        if !extra.iter().any(|a| a.starts_with("--scheduler")) {
            defaults.push("--scheduler=false");
        }
        let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
            .args(["--etcd-servers", etcd_servers, "--insecure-port", &port.to_string()])
            .args(defaults)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start apiserver");
        let s = ApiServer {
            port,
            url: format!("http://127.0.0.1:{port}"),
            http: Http::plain(port),
            proc: Proc(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The last object the namespace bootstrap creates, then the RBAC policy (readyz).
            if let Ok((200, _)) = s.try_get("/api/v1/namespaces/kube-node-lease/serviceaccounts/default") {
                if let Ok((200, _)) = s.try_get("/readyz") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "apiserver not ready on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Plain HTTP request: (status code, body).
    pub fn request(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
        self.http.request(method, path, content_type, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "application/json", "")
    }

    fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        self.http.try_request("GET", path, "application/json", "")
    }

    pub fn json(&self, method: &str, path: &str, ct: &str, body: &str) -> (u16, serde_json::Value) {
        self.http.json(method, path, ct, body)
    }
}

/// kubectl 1.32 with its own HOME (no discovery cache or kubeconfig leaks).
pub struct Kubectl {
    server: String,
    /// Arguments before every command (e.g. `--token`).
    args: Vec<String>,
    home: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(server: &str) -> Kubectl {
        Self::with_args(server, &[])
    }

    pub fn with_args(server: &str, args: &[&str]) -> Kubectl {
        Kubectl {
            server: server.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            home: tempfile::tempdir().expect("home"),
        }
    }

    fn bin() -> String {
        std::env::var("APISERVER_TEST_KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(Self::bin());
        c.env("HOME", self.home.path())
            .env("KUBECONFIG", self.home.path().join("no-kubeconfig"))
            .arg("--server")
            .arg(&self.server)
            .args(&self.args)
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("kubectl output")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, None)
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run_stdin(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
        );
        stdout
    }

    /// Start `kubectl <args>` streaming stdout lines into a channel.
    pub fn stream(&self, args: &[&str]) -> (Proc, mpsc::Receiver<String>) {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn kubectl");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (Proc(child), rx)
    }
}

/// Wait for a line satisfying `f`, up to `secs`.
pub fn wait_line(rx: &mpsc::Receiver<String>, secs: u64, f: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if f(&line) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// The key-value at `key` in the store, read with the etcd v3 API.
pub fn etcd_kv(endpoint: &str, key: &str) -> Option<proto::mvccpb::KeyValue> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = proto::etcdserverpb::kv_client::KvClient::connect(endpoint.to_string())
            .await
            .expect("etcd connect");
        let r = c
            .range(proto::etcdserverpb::RangeRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            })
            .await
            .expect("range")
            .into_inner();
        r.kvs.into_iter().next()
    })
}
