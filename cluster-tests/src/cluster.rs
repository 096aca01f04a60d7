//! [`Cluster`]: several members started together with one `--initial-cluster`, plus the
//! probes multi-member tests need: who leads (Maintenance.Status), each member's revision
//! (serializable Range), HashKV agreement, and a fresh member ready to join.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::maintenance_client::MaintenanceClient;
use proto::etcdserverpb::{HashKvRequest, RangeRequest, StatusRequest, StatusResponse};

use crate::binary::Kind;
use crate::client;
use crate::ports::free_port;
use crate::server::{Server, ServerOpts};

/// Members of one cluster, in `--initial-cluster` order (names `n1`, `n2`, ...), plus any
/// added later.
pub struct Cluster {
    pub members: Vec<Server>,
    kind: Kind,
    opts: ServerOpts,
    token: String,
}

impl Cluster {
    /// Starts `size` members of `kind` and waits until each serves a linearizable Range.
    pub async fn start(kind: Kind, size: usize, opts: ServerOpts) -> Result<Cluster> {
        let mut ports = Vec::new();
        for _ in 0..size {
            ports.push((free_port()?, free_port()?));
        }
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("n{}=http://127.0.0.1:{peer}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("ctest-cluster-{}", ports_token(&initial_cluster));
        let mut members = Vec::new();
        for (i, (client_port, peer_port)) in ports.into_iter().enumerate() {
            let mut o = opts.clone();
            o.name = format!("n{}", i + 1);
            let mut s = Server::new(kind, o, client_port, peer_port, initial_cluster.clone())?;
            s.token = token.clone();
            members.push(s);
        }
        for m in &mut members {
            m.spawn()?;
        }
        for m in &mut members {
            m.wait_ready().await?;
        }
        Ok(Cluster {
            members,
            kind,
            opts,
            token,
        })
    }

    /// All client endpoints, comma-separated (etcdctl `--endpoints`).
    pub fn endpoints(&self) -> String {
        self.members.iter().map(Server::endpoint).collect::<Vec<_>>().join(",")
    }

    /// A member not yet in the cluster, on fresh ports (not started): announce its
    /// [`Server::peer_url`] with `member add`, then [`Server::join_with`] and start it.
    pub fn new_member(&self, name: &str) -> Result<Server> {
        let mut o = self.opts.clone();
        o.name = name.to_string();
        let peer = free_port()?;
        let mut s = Server::new(self.kind, o, free_port()?, peer, String::new())?;
        s.token = self.token.clone();
        Ok(s)
    }

    /// Maintenance.Status of member `i` (2 s deadline).
    pub async fn status(&self, i: usize) -> Result<StatusResponse> {
        let m = self.members.get(i).context("no such member")?;
        let mut c = MaintenanceClient::new(m.channel().await?);
        let r = tokio::time::timeout(Duration::from_secs(2), c.status(StatusRequest {}))
            .await
            .context("status timed out")??;
        Ok(r.into_inner())
    }

    /// The member that reports itself as leader (its Status `leader` is its own id), if any
    /// running member does; the highest term wins if an old leader has not noticed yet.
    pub async fn leader(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for i in 0..self.members.len() {
            if self.members[i].pid().is_none() {
                continue;
            }
            let Ok(st) = self.status(i).await else { continue };
            let Some(h) = st.header else { continue };
            if st.leader != 0 && st.leader == h.member_id && best.is_none_or(|(t, _)| h.raft_term > t) {
                best = Some((h.raft_term, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Waits until some running member leads; returns its index.
    pub async fn wait_leader(&self, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.leader().await {
                return Ok(i);
            }
            ensure!(Instant::now() < deadline, "no leader within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every running member has applied the same revision, then checks that
    /// HashKV at that revision is the same on all of them. Returns the revision.
    pub async fn wait_converged(&self, timeout: Duration) -> Result<i64> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut revs = Vec::new();
            for m in self.members.iter().filter(|m| m.pid().is_some()) {
                revs.push(local_revision(m).await.unwrap_or(-1));
            }
            let rev = revs[0];
            if rev > 0 && revs.iter().all(|&r| r == rev) {
                let mut hashes = Vec::new();
                for m in self.members.iter().filter(|m| m.pid().is_some()) {
                    let mut c = MaintenanceClient::new(m.channel().await?);
                    let h = c
                        .hash_kv(HashKvRequest { revision: rev })
                        .await
                        .with_context(|| format!("HashKV at {rev} on {}", m.name()))?
                        .into_inner();
                    hashes.push((m.name().to_string(), h.hash, h.compact_revision));
                }
                let first = (hashes[0].1, hashes[0].2);
                if hashes.iter().any(|(_, h, c)| (*h, *c) != first) {
                    bail!("HashKV differs at revision {rev}: {hashes:?}");
                }
                return Ok(rev);
            }
            if Instant::now() >= deadline {
                bail!("members did not reach one revision within {timeout:?}: {revs:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The revision member `m` has applied (header of a serializable Range: no leader needed).
pub async fn local_revision(m: &Server) -> Result<i64> {
    let mut kv = KvClient::new(m.channel().await?);
    let req = RangeRequest {
        key: b"cluster-tests/no-such-key".to_vec(),
        serializable: true,
        ..Default::default()
    };
    let r = tokio::time::timeout(Duration::from_secs(2), kv.range(req))
        .await
        .context("range timed out")??
        .into_inner();
    Ok(r.header.context("no header")?.revision)
}

/// Reads `key` through member `m`, linearizably (`serializable` false) or locally.
pub async fn read(m: &Server, key: &str, serializable: bool) -> Result<Option<Vec<u8>>> {
    let mut kv = KvClient::new(m.channel().await?);
    let req = RangeRequest {
        key: key.as_bytes().to_vec(),
        serializable,
        ..Default::default()
    };
    let r = kv
        .range(req)
        .await
        .with_context(|| format!("get {key} on {}", m.name()))?;
    Ok(r.into_inner().kvs.into_iter().next().map(|kv| kv.value))
}

/// Every key under `prefix` as member `m` has it (serializable), sorted.
pub async fn keys_under(m: &Server, prefix: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut kv = KvClient::new(m.channel().await?);
    let req = RangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: client::prefix_end(prefix.as_bytes()),
        serializable: true,
        ..Default::default()
    };
    let r = kv
        .range(req)
        .await
        .with_context(|| format!("range {prefix}* on {}", m.name()))?;
    Ok(r.into_inner().kvs.into_iter().map(|kv| (kv.key, kv.value)).collect())
}

fn ports_token(initial_cluster: &str) -> u64 {
    initial_cluster.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    })
}
