//! One server process (etcd or kv) started with etcd's flags on free 127.0.0.1 ports and a
//! private temp data dir, plus [`Cluster`] for several members. Owns the child: it is
//! SIGKILLed and reaped on drop, also when a test panics (then the log tail is printed).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::RangeRequest;
use tempfile::TempDir;
use tonic::transport::Channel;

use crate::binary::Kind;
use crate::client;
use crate::ports::free_port;
use crate::signal::{self, Sig};

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerOpts {
    /// `--name` (also the member name in `--initial-cluster`).
    pub name: String,
    /// Extra flags appended after the standard ones.
    pub extra_args: Vec<String>,
    /// How long [`Server::wait_ready`] waits for a successful Range.
    pub ready_timeout: Duration,
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            name: "n1".into(),
            extra_args: Vec::new(),
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// A server process and its data dir; the data dir lives as long as this value.
pub struct Server {
    kind: Kind,
    bin: PathBuf,
    opts: ServerOpts,
    client_port: u16,
    peer_port: u16,
    initial_cluster: String,
    initial_cluster_state: &'static str,
    pub(crate) token: String,
    dir: TempDir,
    child: Option<Child>,
    starts: u32,
}

impl Server {
    /// Starts a single-member server and waits until it serves a Range.
    /// Retries on fresh ports if the ports were taken in the meantime.
    pub async fn start(kind: Kind, opts: ServerOpts) -> Result<Server> {
        let mut last_err = None;
        for _ in 0..3 {
            let client_port = free_port()?;
            let peer_port = free_port()?;
            let initial_cluster = format!("{}=http://127.0.0.1:{peer_port}", opts.name);
            let mut s = Server::new(kind, opts.clone(), client_port, peer_port, initial_cluster)?;
            s.spawn()?;
            match s.wait_ready().await {
                Ok(()) => return Ok(s),
                Err(e) if s.log_tail(8000).contains("address already in use") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("start failed")))
    }

    pub(crate) fn new(
        kind: Kind,
        opts: ServerOpts,
        client_port: u16,
        peer_port: u16,
        initial_cluster: String,
    ) -> Result<Server> {
        let bin = kind.binary()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("ctest-{}-{}-", kind.label(), opts.name))
            .tempdir()
            .context("creating temp dir")?;
        let token = format!("ctest-{client_port}");
        Ok(Server {
            kind,
            bin,
            opts,
            client_port,
            peer_port,
            initial_cluster,
            initial_cluster_state: "new",
            token,
            dir,
            child: None,
            starts: 0,
        })
    }

    /// Which binary this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// `--name`.
    pub fn name(&self) -> &str {
        &self.opts.name
    }
    /// `127.0.0.1:<client port>` (etcdctl's `--endpoints` form).
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
    /// `http://127.0.0.1:<client port>`.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }
    /// `http://127.0.0.1:<peer port>`.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
    /// `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    /// A scratch dir next to the data dir, removed with the server.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }
    /// Joins an existing cluster on the next start: `--initial-cluster` as `member add`
    /// printed it and `--initial-cluster-state existing`.
    pub fn join_with(&mut self, initial_cluster: &str) {
        self.initial_cluster = initial_cluster.to_string();
        self.initial_cluster_state = "existing";
    }
    /// The pid, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The flags this server is started with (etcd's names and meanings).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--name".into(),
            self.opts.name.clone(),
            "--data-dir".into(),
            self.data_dir().display().to_string(),
            "--listen-client-urls".into(),
            self.client_url(),
            "--advertise-client-urls".into(),
            self.client_url(),
            "--listen-peer-urls".into(),
            self.peer_url(),
            "--initial-advertise-peer-urls".into(),
            self.peer_url(),
            "--initial-cluster".into(),
            self.initial_cluster.clone(),
            "--initial-cluster-token".into(),
            self.token.clone(),
            "--initial-cluster-state".into(),
            self.initial_cluster_state.into(),
        ];
        if self.is_etcd_binary() {
            // etcd 3.4 warns about the deprecated capnslog logger unless told otherwise.
            a.extend(["--logger".into(), "zap".into(), "--log-outputs".into(), "stderr".into()]);
        }
        a.extend(self.opts.extra_args.iter().cloned());
        a
    }

    fn is_etcd_binary(&self) -> bool {
        self.bin.file_name().is_some_and(|n| n == "etcd")
    }

    /// Spawns the process (without waiting for readiness). Output goes to `server.log`.
    pub fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.describe());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening server log")?;
        self.starts += 1;
        let mut cmd = Command::new(&self.bin);
        // Both etcd and kv read ETCD_* variables as flags: keep the caller's out.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(self.args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning log handle")?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {} {:?}", self.bin.display(), self.args()))?;
        self.child = Some(child);
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "{} `{}` ({}) on {}",
            self.kind.label(),
            self.opts.name,
            self.bin.display(),
            self.endpoint()
        )
    }

    /// Polls a Range (linearizable, so it needs a leader) until it succeeds; fails early,
    /// with the log tail, if the process exits; fails at `ready_timeout`.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("try_wait")? {
                    self.child = None;
                    bail!(
                        "{} exited during start-up with {status}; log tail:\n{}",
                        self.describe(),
                        self.log_tail(4000)
                    );
                }
            } else {
                bail!("{} is not running", self.describe());
            }
            let last = match probe(&self.endpoint()).await {
                Ok(()) => return Ok(()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {:?} (last probe error: {last}); log tail:\n{}",
                    self.describe(),
                    self.opts.ready_timeout,
                    self.log_tail(4000)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A gRPC channel to this server.
    pub async fn channel(&self) -> Result<Channel> {
        client::connect(&self.endpoint()).await
    }

    /// A KV client on a fresh channel.
    pub async fn kv(&self) -> Result<KvClient<Channel>> {
        Ok(KvClient::new(self.channel().await?))
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it has not exited after 10 s.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.describe())
        };
        signal::send(child.id(), Sig::Term)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().context("try_wait")? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                child.kill().context("SIGKILL after SIGTERM timeout")?;
                let status = child.wait().context("wait")?;
                bail!("{} ignored SIGTERM for 10 s; killed ({status})", self.describe());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit by itself (e.g. a member removed from its cluster);
    /// fails, leaving it running, if it is still up after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().context("not running")?;
            if let Some(status) = child.try_wait().context("try_wait")? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{} still running after {timeout:?}", self.describe());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Crash: SIGKILL and reap.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.describe())
        };
        signal::send(child.id(), Sig::Kill)?;
        child.wait().context("reaping killed server")?;
        Ok(())
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&self) -> Result<()> {
        signal::send(self.pid().context("not running")?, Sig::Stop)
    }

    /// SIGCONT after [`Server::pause`].
    pub fn resume(&self) -> Result<()> {
        signal::send(self.pid().context("not running")?, Sig::Cont)
    }

    /// Starts again on the same data dir and ports (after stop or kill) and waits for ready.
    pub async fn restart(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready().await
    }

    /// The last `max` bytes of the server's log (all starts appended).
    pub fn log_tail(&self, max: u64) -> String {
        let Ok(mut f) = File::open(self.log_path()) else {
            return "<no log>".into();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
        let mut s = Vec::new();
        let _ = f.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- {} (started {} time(s)) log tail ----\n{}\n---- end of log ----",
                self.describe(),
                self.starts,
                self.log_tail(3000)
            );
        }
    }
}

async fn probe(endpoint: &str) -> Result<()> {
    let mut kv = KvClient::new(client::connect(endpoint).await?);
    let req = RangeRequest {
        key: b"cluster-tests/ready-probe".to_vec(),
        ..Default::default()
    };
    tokio::time::timeout(Duration::from_secs(2), kv.range(req))
        .await
        .context("range probe timed out")??;
    Ok(())
}
