//! The Maintenance service: Status, Hash/HashKV, Snapshot, Alarm, Defragment, MoveLeader.

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use proto::etcdserverpb::{
    alarm_request::AlarmAction, maintenance_server::Maintenance, AlarmRequest, AlarmResponse, DefragmentRequest,
    DefragmentResponse, DowngradeRequest, DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    InternalRaftRequest, MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse,
};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::errors::status;
use crate::apply::Response as Applied;
use crate::backend::Cf;
use crate::config::ETCD_VERSION;
use crate::error::Error;
use crate::member::Member;

pub struct MaintenanceService {
    pub member: Arc<Member>,
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

const SNAPSHOT_CHUNK: usize = 32 * 1024;

impl MaintenanceService {
    fn status_response(&self) -> StatusResponse {
        let m = &self.member;
        let st = m.raft.status();
        let mut errors = Vec::new();
        if st.leader == 0 {
            errors.push("etcdserver: no leader".to_string());
        }
        for a in m.alarms.list() {
            let name = match a.alarm {
                1 => "NOSPACE",
                2 => "CORRUPT",
                _ => "NONE",
            };
            errors.push(format!("memberID:{} alarm:{}", a.member_id, name));
        }
        StatusResponse {
            header: Some(m.header(m.store.current_revision())),
            version: ETCD_VERSION.to_string(),
            db_size: m.store.backend().size(),
            leader: st.leader,
            raft_index: st.commit,
            raft_term: st.term,
            raft_applied_index: m.store.consistent_index().max(st.applied),
            errors,
            db_size_in_use: m.store.backend().size_in_use(),
            is_learner: st.learners.contains(&m.id),
            storage_version: String::new(),
            db_size_quota: m.cfg.quota_bytes,
            downgrade_info: None,
        }
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        super::authz::admin(&self.member, &req).map_err(status)?;
        let r = req.into_inner();
        if r.action == AlarmAction::Get as i32 {
            return Ok(Response::new(AlarmResponse {
                header: Some(self.member.header(self.member.store.current_revision())),
                alarms: self.member.alarms.list(),
            }));
        }
        let (resp, rev) = self
            .member
            .propose(InternalRaftRequest {
                alarm: Some(r),
                ..Default::default()
            })
            .await
            .map_err(status)?;
        match resp {
            Applied::Alarm(mut a) => {
                a.header = Some(self.member.header(rev));
                Ok(Response::new(a))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }

    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.status_response()))
    }

    async fn defragment(&self, _req: Request<DefragmentRequest>) -> Result<Response<DefragmentResponse>, Status> {
        super::authz::admin(&self.member, &_req).map_err(status)?;
        let m = self.member.clone();
        m.read(|s| s.backend().defragment().map_err(Error::from))
            .await
            .map_err(status)?;
        Ok(Response::new(DefragmentResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
        }))
    }

    async fn hash(&self, _req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        super::authz::admin(&self.member, &_req).map_err(status)?;
        let m = self.member.clone();
        let hash = m
            .read(|s| {
                let mut crc = 0u32;
                let backend = s.backend();
                for cf in Cf::ALL {
                    let mut it = backend.iter(cf)?;
                    it.seek_to_first();
                    crc = crc32c::crc32c_append(crc, cf.name().as_bytes());
                    while it.valid() {
                        crc = crc32c::crc32c_append(crc, it.key().unwrap_or_default());
                        crc = crc32c::crc32c_append(crc, it.value().unwrap_or_default());
                        it.next();
                    }
                    it.status()?;
                }
                Ok(crc)
            })
            .await
            .map_err(status)?;
        Ok(Response::new(HashResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
            hash,
        }))
    }

    async fn hash_kv(&self, req: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        super::authz::admin(&self.member, &req).map_err(status)?;
        let rev = req.into_inner().revision;
        let m = self.member.clone();
        let (hash, hash_rev, compact) = m.read(move |s| s.hash_kv(rev)).await.map_err(status)?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
            hash,
            // etcd's store starts with no compaction as -1.
            compact_revision: if compact == 0 { -1 } else { compact },
            hash_revision: hash_rev,
        }))
    }

    type SnapshotStream = SnapshotStream;

    /// Streams a consistent copy of the backend: a RocksDB checkpoint packed as a tar, then
    /// its SHA-256 (as etcd appends one to its bbolt snapshot).
    async fn snapshot(&self, _req: Request<SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        super::authz::admin(&self.member, &_req).map_err(status)?;
        let m = self.member.clone();
        let tmp = tempfile::Builder::new()
            .prefix("snapshot")
            .tempdir_in(&m.cfg.snap_dir)
            .map_err(|e| Status::internal(format!("snapshot: {e}")))?;
        let cp_dir = tmp.path().join("db");
        let tar_path = tmp.path().join("db.tar");
        {
            let (cp, tp) = (cp_dir.clone(), tar_path.clone());
            m.read(move |s| {
                s.backend().checkpoint(&cp)?;
                let f = std::fs::File::create(&tp).map_err(|e| Error::Backend(format!("snapshot: {e}")))?;
                let mut b = tar::Builder::new(f);
                b.append_dir_all("db", &cp)
                    .and_then(|_| b.finish())
                    .map_err(|e| Error::Backend(format!("snapshot: {e}")))?;
                Ok(())
            })
            .await
            .map_err(status)?;
        }
        let total = std::fs::metadata(&tar_path)
            .map_err(|e| Status::internal(format!("snapshot: {e}")))?
            .len();
        let (tx, rx) = mpsc::channel(4);
        let header = m.header(m.store.current_revision());
        tokio::task::spawn_blocking(move || {
            let _keep = tmp;
            let mut f = match std::fs::File::open(&tar_path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(Status::internal(format!("snapshot: {e}"))));
                    return;
                }
            };
            let mut sha = Sha256::new();
            let mut sent: u64 = 0;
            let mut buf = vec![0u8; SNAPSHOT_CHUNK];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(Status::internal(format!("snapshot: {e}"))));
                        return;
                    }
                };
                sha.update(&buf[..n]);
                sent += n as u64;
                let resp = SnapshotResponse {
                    header: Some(header),
                    remaining_bytes: total.saturating_sub(sent) + 32,
                    blob: buf[..n].to_vec(),
                    version: ETCD_VERSION.to_string(),
                };
                if tx.blocking_send(Ok(resp)).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Ok(SnapshotResponse {
                header: Some(header),
                remaining_bytes: 0,
                blob: sha.finalize().to_vec(),
                version: ETCD_VERSION.to_string(),
            }));
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn move_leader(&self, req: Request<MoveLeaderRequest>) -> Result<Response<MoveLeaderResponse>, Status> {
        super::authz::admin(&self.member, &req).map_err(status)?;
        let target = req.into_inner().target_id;
        let st = self.member.raft.status();
        if !st.is_leader {
            return Err(Status::failed_precondition("etcdserver: not leader"));
        }
        if !st.voters.contains(&target) {
            return Err(Status::failed_precondition("etcdserver: bad leader transferee"));
        }
        if target != self.member.id {
            self.member
                .raft
                .transfer_leader(target)
                .map_err(|_| status(Error::Stopped))?;
            let deadline = tokio::time::Instant::now() + self.member.request_timeout();
            while self.member.raft.status().leader != target {
                if tokio::time::Instant::now() > deadline {
                    return Err(status(Error::Timeout));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(Response::new(MoveLeaderResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
        }))
    }

    async fn downgrade(&self, _req: Request<DowngradeRequest>) -> Result<Response<DowngradeResponse>, Status> {
        Err(Status::unimplemented("etcdserver: downgrade is not supported"))
    }
}
