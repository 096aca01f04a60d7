//! Spawning etcd or kv members on free 127.0.0.1 ports with identical flags: readiness,
//! peak RSS (`VmHWM`), data-dir size, stop and restart. Every member is killed on drop.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proto::etcdserverpb::{kv_client::KvClient, maintenance_client::MaintenanceClient, RangeRequest, StatusRequest};

use crate::load::{connect_one, ClientTls};

/// Which server a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Etcd,
    Kv,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Kv => "kv",
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released; the race is accepted).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// One member process.
pub struct Member {
    pub name: String,
    pub data_dir: PathBuf,
    /// The client URL the member is measured on (https with TLS).
    pub client_url: String,
    /// A second, plain-http client URL (TLS clusters only), for plaintext reference runs.
    pub plain_url: Option<String>,
    args: Vec<String>,
    bin: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn spawn(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The client endpoint: `host:port` for http, the full `https://host:port` for TLS.
    pub fn endpoint(&self) -> String {
        self.client_url.trim_start_matches("http://").to_string()
    }

    /// The plain-http client endpoint (`host:port`): the second listener of a TLS member,
    /// else the only one.
    pub fn plain_endpoint(&self) -> String {
        self.plain_url
            .as_deref()
            .unwrap_or(&self.client_url)
            .trim_start_matches("http://")
            .to_string()
    }

    /// Whether the process was started and has not been seen to exit.
    pub fn running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// SIGKILL, and reap. The data dir stays, so [`Member::respawn`] restarts it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again with the same flags and data dir (after a kill or stop).
    pub fn respawn(&mut self) -> Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is still running", self.name);
        self.spawn()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Peak resident set size so far, bytes (`VmHWM`).
    pub fn peak_rss(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        proc_kb(&status, "VmHWM:").map(|kb| kb * 1024)
    }

    /// CPU time the process has used so far, seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(&format!("/proc/{}/stat", self.pid()?))
    }

    /// Current resident set size, bytes (`VmRSS`).
    pub fn rss(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        proc_kb(&status, "VmRSS:").map(|kb| kb * 1024)
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how the process ended (None if it was
    /// not running or had to be killed).
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        stop_child(self.child.take()?, grace)
    }
}

/// SIGTERM `child`, then SIGKILL after `grace`; how it ended, or None if it had to be killed.
pub fn stop_child(mut child: std::process::Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// CPU time (user + system, all threads) a process has used, seconds, from its
/// `/proc/<pid>/stat` (`utime` and `stime`, fields 14 and 15, in USER_HZ = 100 ticks per
/// second, fixed by the Linux ABI).
pub fn proc_cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = fs::read_to_string(stat_path).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn proc_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Bytes allocated on disk under `dir` (like `du -s`, so preallocated WAL space counts).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(md) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        if md.is_dir() {
            total += dir_size(&e.path());
        } else {
            total += md.blocks() * 512;
        }
    }
    total
}

/// Sum of file lengths under `dir` (like `du -s --apparent-size`).
pub fn apparent_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| fs::symlink_metadata(e.path()).ok().map(|md| (e, md)))
        .map(|(e, md)| {
            if md.is_dir() {
                apparent_size(&e.path())
            } else {
                md.len()
            }
        })
        .sum()
}

/// Server-side TLS for the client port: the member's certificate and key, and the CA its
/// clients' certificates must chain to (`--client-cert-auth`).
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub trusted_ca: PathBuf,
    /// What the cluster's own probes (readiness, status, key count) connect with.
    pub client: ClientTls,
}

/// How members are started, beyond their names, ports and data dirs.
#[derive(Clone, Debug)]
pub struct StartOpts {
    /// `--heartbeat-interval`, ms.
    pub heartbeat_ms: u64,
    /// `--election-timeout`, ms.
    pub election_ms: u64,
    /// TLS on the client port (https with client certificates, plus a second plain-http
    /// listener for reference runs); peers stay plain.
    pub tls: Option<ServerTls>,
}

impl Default for StartOpts {
    fn default() -> Self {
        StartOpts {
            heartbeat_ms: 100,
            election_ms: 1000,
            tls: None,
        }
    }
}

/// A set of members started together with `--initial-cluster` naming all of them.
pub struct Cluster {
    pub kind: Kind,
    pub members: Vec<Member>,
    /// TLS for the cluster's own probes (None: plain http).
    pub client_tls: Option<ClientTls>,
}

/// What `Maintenance.Status` says about one member.
#[derive(Clone, Copy, Debug)]
pub struct MemberStatus {
    pub member_id: u64,
    /// The leader's member ID as this member sees it (0: none).
    pub leader: u64,
    pub raft_term: u64,
}

impl Cluster {
    /// Starts `n` members of `kind` from `bin` with the default [`StartOpts`]; see
    /// [`Cluster::start_with`].
    pub fn start(kind: Kind, bin: &Path, n: usize, root: &Path) -> Result<Cluster> {
        Self::start_with(kind, bin, n, root, &StartOpts::default())
    }

    /// Starts `n` members of `kind` from `bin`, data dirs under `root/<kind>-<i>`, logs in
    /// `root/<kind>-<i>.log`. Does not wait for readiness.
    pub fn start_with(kind: Kind, bin: &Path, n: usize, root: &Path, opts: &StartOpts) -> Result<Cluster> {
        fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        let mut plains = Vec::new();
        for _ in 0..n {
            peers.push(format!("http://127.0.0.1:{}", free_port()?));
            clients.push(format!("{scheme}://127.0.0.1:{}", free_port()?));
            if opts.tls.is_some() {
                plains.push(Some(format!("http://127.0.0.1:{}", free_port()?)));
            } else {
                plains.push(None);
            }
        }
        let name = |i: usize| format!("{}-{i}", kind.name());
        let initial = (0..n)
            .map(|i| format!("{}={}", name(i), peers[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for i in 0..n {
            let data_dir = root.join(name(i));
            let client_urls = match &plains[i] {
                Some(p) => format!("{},{p}", clients[i]),
                None => clients[i].clone(),
            };
            let mut args = vec![
                "--name".into(),
                name(i),
                "--data-dir".into(),
                data_dir.display().to_string(),
                "--listen-client-urls".into(),
                client_urls.clone(),
                "--advertise-client-urls".into(),
                client_urls,
                "--listen-peer-urls".into(),
                peers[i].clone(),
                "--initial-advertise-peer-urls".into(),
                peers[i].clone(),
                "--initial-cluster".into(),
                initial.clone(),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                "kv-bench".into(),
                "--heartbeat-interval".into(),
                opts.heartbeat_ms.to_string(),
                "--election-timeout".into(),
                opts.election_ms.to_string(),
            ];
            if let Some(t) = &opts.tls {
                args.extend([
                    "--cert-file".into(),
                    t.cert.display().to_string(),
                    "--key-file".into(),
                    t.key.display().to_string(),
                    "--trusted-ca-file".into(),
                    t.trusted_ca.display().to_string(),
                    "--client-cert-auth".into(),
                ]);
            }
            let mut m = Member {
                name: name(i),
                data_dir,
                client_url: clients[i].clone(),
                plain_url: plains[i].clone(),
                args,
                bin: bin.to_path_buf(),
                log: root.join(format!("{}.log", name(i))),
                child: None,
            };
            m.spawn()?;
            members.push(m);
        }
        Ok(Cluster {
            kind,
            members,
            client_tls: opts.tls.as_ref().map(|t| t.client.clone()),
        })
    }

    /// Every member's measured client endpoint (https with TLS).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.endpoint()).collect()
    }

    /// Every member's plain-http client endpoint.
    pub fn plain_endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.plain_endpoint()).collect()
    }

    /// `Maintenance.Status` of member `i` (1 s timeout).
    pub async fn status(&self, i: usize) -> Result<MemberStatus> {
        let m = self.members.get(i).context("no such member")?;
        let attempt = async {
            let ch = connect_one(&m.endpoint(), self.client_tls.as_ref()).await?;
            let r = MaintenanceClient::new(ch).status(StatusRequest {}).await?.into_inner();
            Ok::<_, anyhow::Error>(MemberStatus {
                member_id: r.header.map(|h| h.member_id).unwrap_or(0),
                leader: r.leader,
                raft_term: r.raft_term,
            })
        };
        tokio::time::timeout(Duration::from_secs(1), attempt)
            .await
            .with_context(|| format!("status of {}: timed out", m.name))?
            .with_context(|| format!("status of {}", m.name))
    }

    /// The index of the leader, once every running member names the same one (which is
    /// one of them), polling every 20 ms for up to `timeout`.
    pub async fn leader(&mut self, timeout: Duration) -> Result<usize> {
        let start = Instant::now();
        let mut last = String::from("no status yet");
        loop {
            let mut ids = Vec::new();
            let mut leaders = Vec::new();
            for i in 0..self.members.len() {
                if !self.members[i].running() {
                    continue;
                }
                match self.status(i).await {
                    Ok(st) => {
                        ids.push((i, st.member_id));
                        leaders.push(st.leader);
                    }
                    Err(e) => last = format!("{e:#}"),
                }
            }
            let running = self.members.iter_mut().map(|m| usize::from(m.running())).sum::<usize>();
            if ids.len() == running && !leaders.is_empty() && leaders.iter().all(|l| *l != 0 && *l == leaders[0]) {
                if let Some(&(i, _)) = ids.iter().find(|(_, id)| *id == leaders[0]) {
                    return Ok(i);
                }
                last = format!("leader {:x} is not a running member", leaders[0]);
            } else if ids.len() == running {
                last = format!("members disagree or have no leader: {leaders:x?}");
            }
            if start.elapsed() > timeout {
                anyhow::bail!("no agreed leader after {timeout:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Live keys, counted with a count-only Range on the first member.
    pub async fn count_keys(&self) -> Result<i64> {
        let m = self.members.first().context("no members")?;
        let ch = connect_one(&m.endpoint(), self.client_tls.as_ref()).await?;
        let r = KvClient::new(ch)
            .range(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                count_only: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(r.count)
    }

    /// The command line of member `i` (for the record).
    pub fn command_line(&self, i: usize) -> String {
        let m = &self.members[i];
        let mut s = m.bin.display().to_string();
        for a in &m.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Waits until a linearizable Range succeeds on every member. Returns the time taken.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        for i in 0..self.members.len() {
            let endpoint = self.members[i].endpoint();
            loop {
                if let Some(st) = self.members[i].exited() {
                    anyhow::bail!(
                        "{} exited with {st} before it was ready; see {}",
                        self.members[i].name,
                        self.members[i].log.display()
                    );
                }
                if probe(&endpoint, self.client_tls.as_ref()).await {
                    break;
                }
                if start.elapsed() > timeout {
                    anyhow::bail!(
                        "{} not ready after {timeout:?}; see {}",
                        self.members[i].name,
                        self.members[i].log.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(start.elapsed())
    }

    /// CPU time all running members have used so far, seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.members.iter().filter_map(|m| m.cpu_seconds()).sum()
    }

    /// Largest `VmHWM` over the members, bytes.
    pub fn peak_rss(&self) -> u64 {
        self.members.iter().filter_map(|m| m.peak_rss()).max().unwrap_or(0)
    }

    /// Largest data dir over the members, bytes on disk.
    pub fn data_size(&self) -> u64 {
        self.members.iter().map(|m| dir_size(&m.data_dir)).max().unwrap_or(0)
    }

    /// Stops every member (SIGTERM, then SIGKILL after `grace`). Returns a line for each
    /// member that did not exit cleanly (status 0) within `grace`.
    pub fn stop(&mut self, grace: Duration) -> Vec<String> {
        let mut bad = Vec::new();
        for m in &mut self.members {
            if m.child.is_none() {
                continue;
            }
            match m.stop(grace) {
                // etcd re-raises SIGTERM after its cleanup: that is a clean stop too.
                Some(st) if st.success() || st.signal() == Some(15) => {}
                Some(st) => bad.push(format!("{} exited with {st} after SIGTERM", m.name)),
                None => bad.push(format!("{} needed SIGKILL after {grace:?}", m.name)),
            }
        }
        bad
    }

    /// Apparent size of the largest data dir (sum of file lengths), bytes.
    pub fn data_apparent_size(&self) -> u64 {
        self.members
            .iter()
            .map(|m| apparent_size(&m.data_dir))
            .max()
            .unwrap_or(0)
    }

    /// Stops, restarts on the same data dirs, and returns the time from spawn until every
    /// member serves a linearizable read, with the stop problems (see [`Cluster::stop`]).
    pub async fn restart(&mut self, timeout: Duration) -> Result<(Duration, Vec<String>)> {
        let bad = self.stop(Duration::from_secs(10));
        let start = Instant::now();
        for m in &mut self.members {
            m.spawn()?;
        }
        self.wait_ready(timeout).await?;
        Ok((start.elapsed(), bad))
    }
}

/// One linearizable Range of a single key, with a short timeout.
async fn probe(endpoint: &str, tls: Option<&ClientTls>) -> bool {
    let attempt = async {
        let ch = connect_one(endpoint, tls).await.ok()?;
        KvClient::new(ch)
            .range(RangeRequest {
                key: b"kv-bench-probe".to_vec(),
                ..Default::default()
            })
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(_))
    )
}

#[cfg(test)]
mod tests {
    use super::proc_cpu_seconds;

    #[test]
    fn cpu_seconds_come_from_utime_and_stime_past_the_command_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stat");
        // A command name with a space and a paren; utime 250, stime 50 ticks.
        let line = "4242 (bench (srv) kv) S 1 4242 4242 0 -1 4194560 1021 0 0 0 250 50 0 0 20 0 9 0 \
                    12345 123456789 2345 18446744073709551615";
        std::fs::write(&path, line).expect("write");
        assert_eq!(proc_cpu_seconds(path.to_str().expect("utf-8")), Some(3.0));
        std::fs::write(&path, "4242 (kv) S 1 2").expect("write");
        assert_eq!(proc_cpu_seconds(path.to_str().expect("utf-8")), None, "truncated");
        assert!(proc_cpu_seconds("/proc/self/stat").is_some_and(|s| s >= 0.0));
    }
}
