//! The system under test: a cluster the harness starts (etcd or kv, one process per member in
//! its own network namespace, reached through loopback forwarders) or external endpoints.
//!
//! Owner: [`Cluster`] owns processes, namespaces and forwarders; dropping it tears all down.
//! Callers: the run (start, health, final heal) and the nemesis (faults).

pub mod forward;
pub mod netns;
pub mod process;

use anyhow::{bail, Context, Result};
use netns::Net;
use process::Member;
use proto::etcdserverpb::cluster_client::ClusterClient;
use proto::etcdserverpb::maintenance_client::MaintenanceClient;
use proto::etcdserverpb::{kv_client::KvClient, RangeRequest, StatusRequest};
use proto::etcdserverpb::{MemberAddRequest, MemberListRequest, MemberRemoveRequest};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// A lazily connecting gRPC channel with a per-request timeout.
pub fn channel(url: &str, timeout: Duration) -> Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_millis(500))
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Processes, namespaces and forwarders of a cluster this harness started.
#[derive(Debug)]
struct Control {
    // Field order = drop order: forwarders, then processes, then namespaces.
    _forwarders: Vec<forward::Forwarder>,
    members: Vec<Member>,
    net: Option<Arc<Net>>,
    /// Peer URL of each member slot (what `--initial-advertise-peer-urls` says).
    peers: Vec<String>,
    data_dirs: Vec<PathBuf>,
    keep_data: bool,
}

impl Drop for Control {
    fn drop(&mut self) {
        self._forwarders.clear();
        self.members.clear(); // kills and reaps
        if !self.keep_data {
            for d in &self.data_dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

#[derive(Debug)]
pub struct Cluster {
    /// Client URLs as the harness reaches them, one per member.
    pub endpoints: Vec<String>,
    control: Option<Control>,
}

/// How to start members.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub bin: PathBuf,
    pub members: usize,
    pub dir: PathBuf,
    /// Keep member data directories after the run (default: removed).
    pub keep_data: bool,
    /// Run members on 127.0.0.1 instead of in namespaces (no root needed; no partitions).
    pub loopback: bool,
    /// Flags appended to every member's command line (e.g. `--snapshot-count 100`).
    pub extra_args: Vec<String>,
}

/// Replaces the value after `flag` in an argument list (appends the pair if absent).
fn set_arg(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(p) if p + 1 < args.len() => args[p + 1] = value.to_string(),
        _ => args.extend([flag.to_string(), value.to_string()]),
    }
}

/// A currently free loopback port (bound, then released for the member to take).
fn free_port() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

impl Cluster {
    pub fn external(endpoints: Vec<String>) -> Cluster {
        Cluster {
            endpoints,
            control: None,
        }
    }

    /// Starts `members` processes with etcd's flags, each in its own namespace (or, with
    /// `spec.loopback`, all on 127.0.0.1 with free ports: no partitions possible then).
    pub async fn start(spec: &Spawn) -> Result<Cluster> {
        if !spec.bin.exists() {
            bail!("member binary {} not found", spec.bin.display());
        }
        let net = if spec.loopback {
            None
        } else {
            Some(Arc::new(Net::create(spec.members)?))
        };
        // (client, peer) address of each member as the members see it.
        let mut addrs: Vec<(SocketAddr, SocketAddr)> = Vec::new();
        for i in 0..spec.members {
            addrs.push(match net {
                Some(_) => (
                    SocketAddr::from((Net::addr(i), 2379)),
                    SocketAddr::from((Net::addr(i), 2380)),
                ),
                None => (free_port()?, free_port()?),
            });
        }
        let token = format!("jepsen-{}", std::process::id());
        let initial: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://{peer}"))
            .collect();
        let mut members = Vec::new();
        let mut forwarders = Vec::new();
        let mut endpoints = Vec::new();
        let mut data_dirs = Vec::new();
        for (i, (client, peer)) in addrs.iter().enumerate() {
            let data = spec.dir.join(format!("m{i}.data"));
            data_dirs.push(data.clone());
            let args: Vec<String> = [
                "--name",
                &format!("m{i}"),
                "--data-dir",
                &data.display().to_string(),
                "--listen-client-urls",
                &format!("http://{client}"),
                "--advertise-client-urls",
                &format!("http://{client}"),
                "--listen-peer-urls",
                &format!("http://{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://{peer}"),
                "--initial-cluster",
                &initial.join(","),
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                &token,
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(spec.extra_args.iter().cloned())
            .collect();
            let log = spec.dir.join(format!("m{i}.log"));
            let ns = net.as_ref().map(|n| n.member_ns(i));
            let mut m = Member::new(format!("m{i}"), ns, spec.bin.clone(), args, log);
            m.start()?;
            members.push(m);
            match &net {
                Some(net) => {
                    let fwd = forward::Forwarder::start(net.clone(), *client).await?;
                    endpoints.push(format!("http://{}", fwd.local));
                    forwarders.push(fwd);
                }
                None => endpoints.push(format!("http://{client}")),
            }
        }
        Ok(Cluster {
            endpoints,
            control: Some(Control {
                _forwarders: forwarders,
                members,
                net,
                peers: addrs.iter().map(|(_, p)| format!("http://{p}")).collect(),
                data_dirs,
                keep_data: spec.keep_data,
            }),
        })
    }

    /// Whether partitions can be injected (members in namespaces).
    pub fn can_partition(&self) -> bool {
        self.control.as_ref().is_some_and(|c| c.net.is_some())
    }

    pub fn controllable(&self) -> bool {
        self.control.is_some()
    }

    pub fn size(&self) -> usize {
        self.endpoints.len()
    }

    fn control(&mut self) -> Result<&mut Control> {
        self.control
            .as_mut()
            .context("faults need a cluster started by the harness")
    }

    /// Waits until every member answers a linearizable read.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for (i, url) in self.endpoints.clone().iter().enumerate() {
            let ch = channel(url, Duration::from_secs(1))?;
            let mut kv = KvClient::new(ch);
            loop {
                let req = RangeRequest {
                    key: b"jepsen-health".to_vec(),
                    ..Default::default()
                };
                if kv.range(req).await.is_ok() {
                    break;
                }
                if let Some(c) = self.control.as_mut() {
                    if let Some(m) = c.members.get_mut(i) {
                        if let Some(st) = m.exited() {
                            bail!("member m{i} exited ({st}); see {}", m.log.display());
                        }
                    }
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("member {i} ({url}) not healthy after {timeout:?}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Index of the leader by the highest-term report among reachable members.
    pub async fn leader(&self) -> Option<usize> {
        let mut ids = vec![0u64; self.size()];
        let mut best: Option<(u64, u64)> = None;
        for (i, url) in self.endpoints.iter().enumerate() {
            let Ok(ch) = channel(url, Duration::from_millis(700)) else {
                continue;
            };
            let Ok(resp) = MaintenanceClient::new(ch).status(StatusRequest {}).await else {
                continue;
            };
            let st = resp.into_inner();
            if let Some(h) = st.header.as_ref() {
                ids[i] = h.member_id;
                if st.leader != 0 && best.is_none_or(|(t, _)| h.raft_term > t) {
                    best = Some((h.raft_term, st.leader));
                }
            }
        }
        let (_, leader) = best?;
        ids.iter().position(|&id| id == leader)
    }

    pub async fn kill(&mut self, i: usize) -> Result<()> {
        let c = self.control()?;
        c.members.get_mut(i).context("no such member")?.kill().await;
        Ok(())
    }

    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.control()?.members.get_mut(i).context("no such member")?.start()
    }

    pub fn pause(&mut self, i: usize) -> Result<()> {
        self.control()?.members.get_mut(i).context("no such member")?.pause();
        Ok(())
    }

    pub fn resume(&mut self, i: usize) -> Result<()> {
        self.control()?.members.get_mut(i).context("no such member")?.resume();
        Ok(())
    }

    pub async fn partition(&mut self, groups: &[Vec<usize>]) -> Result<()> {
        let net = self
            .control()?
            .net
            .clone()
            .context("partitions need network namespaces (root)")?;
        net.partition(groups).await
    }

    /// Undoes every fault: heals the network, continues paused and restarts dead members.
    pub async fn heal_all(&mut self) -> Result<()> {
        let Some(c) = self.control.as_mut() else {
            return Ok(());
        };
        if let Some(net) = &c.net {
            net.heal().await?;
        }
        for m in &mut c.members {
            if m.is_paused() {
                m.resume();
            }
            let _ = m.exited();
            if !m.is_running() {
                m.start()?;
            }
        }
        Ok(())
    }

    /// Removes member `i` from the cluster (MemberRemove through another member), kills it and
    /// wipes its data directory.
    pub async fn remove_member(&mut self, i: usize) -> Result<()> {
        let others: Vec<String> = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| u.clone())
            .collect();
        let c = self.control()?;
        let peer = c.peers.get(i).context("no such member")?.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        'done: loop {
            for url in &others {
                let mut cl = ClusterClient::new(channel(url, Duration::from_secs(3))?);
                let list = match cl.member_list(MemberListRequest { linearizable: false }).await {
                    Ok(l) => l.into_inner(),
                    Err(e) => {
                        last = e.message().to_string();
                        continue;
                    }
                };
                let Some(m) = list.members.iter().find(|m| m.peer_ur_ls.contains(&peer)) else {
                    break 'done; // already gone
                };
                match cl.member_remove(MemberRemoveRequest { id: m.id }).await {
                    Ok(_) => break 'done,
                    Err(e) => last = e.message().to_string(),
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("removing member m{i}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let c = self.control()?;
        c.members.get_mut(i).context("no such member")?.kill().await;
        if let Some(d) = c.data_dirs.get(i) {
            let _ = std::fs::remove_dir_all(d);
        }
        Ok(())
    }

    /// Adds member `i` back (MemberAdd through another member) and starts it with an empty
    /// data directory and `--initial-cluster-state existing`.
    pub async fn add_member(&mut self, i: usize) -> Result<()> {
        let others: Vec<String> = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| u.clone())
            .collect();
        let c = self.control()?;
        let peer = c.peers.get(i).context("no such member")?.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        let members = 'done: loop {
            for url in &others {
                let mut cl = ClusterClient::new(channel(url, Duration::from_secs(3))?);
                match cl
                    .member_add(MemberAddRequest {
                        peer_ur_ls: vec![peer.clone()],
                        is_learner: false,
                    })
                    .await
                {
                    Ok(r) => break 'done r.into_inner().members,
                    Err(e) => last = e.message().to_string(),
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("adding member m{i}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let initial: Vec<String> = members
            .iter()
            .filter_map(|m| {
                let url = m.peer_ur_ls.first()?;
                let name = if url == &peer || m.name.is_empty() {
                    format!("m{i}")
                } else {
                    m.name.clone()
                };
                Some(format!("{name}={url}"))
            })
            .collect();
        let c = self.control()?;
        let m = c.members.get_mut(i).context("no such member")?;
        set_arg(&mut m.args, "--initial-cluster", &initial.join(","));
        set_arg(&mut m.args, "--initial-cluster-state", "existing");
        m.start()
    }

    /// Members that exited without the harness killing them: "m0: signal: 15 (SIGTERM)".
    pub fn unexpected_exits(&mut self) -> Vec<String> {
        let Some(c) = self.control.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for m in &mut c.members {
            let _ = m.exited();
            out.extend(m.crashes().iter().map(|st| format!("{}: {st}", m.name)));
        }
        out
    }

    /// Member log files (for the report).
    pub fn logs(&self) -> Vec<&Path> {
        self.control
            .as_ref()
            .map(|c| c.members.iter().map(|m| m.log.as_path()).collect())
            .unwrap_or_default()
    }
}
