//! The applier: one match over `InternalRaftRequest` kinds, each run against MVCC, the
//! lessor and the alarms, committed together with the raft index it came from, and its
//! changes handed to the watch hub in order.

use std::sync::Arc;

use parking_lot::Mutex;
use prost::Message;
use proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmMember, AlarmRequest, AlarmResponse, AlarmType, CompactionResponse,
    DeleteRangeResponse, InternalRaftRequest, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, ResponseHeader,
    TxnResponse,
};
use raft_node::Committed;

use super::txn;
use super::wait::ApplyOutcome;
use crate::auth::{check as authz, AuthStore, Need};
use crate::backend::{Backend, Batch, Cf};
use crate::error::{Error, Result};
use crate::lease::Lessor;
use crate::member::MemberInfo;
use crate::mvcc::{Change, KeyRange, KvStore, WriteTxn};
use crate::watch::WatchHub;

/// The response an applied request produced.
#[derive(Debug, Clone)]
pub enum Response {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    Alarm(AlarmResponse),
    /// Requests with nothing to report (member attributes).
    Empty,
}

/// Active alarms, persisted in the `alarm` column family.
pub struct Alarms {
    active: Mutex<Vec<AlarmMember>>,
}

fn alarm_key(a: &AlarmMember) -> Vec<u8> {
    let mut k = a.member_id.to_be_bytes().to_vec();
    k.extend_from_slice(&a.alarm.to_be_bytes());
    k
}

impl Alarms {
    pub fn recover(backend: &Backend) -> Result<Alarms> {
        let mut active = Vec::new();
        let mut it = backend.iter(Cf::Alarm)?;
        it.seek_to_first();
        while it.valid() {
            if let Some(k) = it.key() {
                if k.len() == 12 {
                    let member_id = u64::from_be_bytes(k[..8].try_into().map_err(|_| Error::Corrupt("alarm".into()))?);
                    let alarm = i32::from_be_bytes(k[8..].try_into().map_err(|_| Error::Corrupt("alarm".into()))?);
                    active.push(AlarmMember { member_id, alarm });
                }
            }
            it.next();
        }
        it.status()?;
        Ok(Alarms {
            active: Mutex::new(active),
        })
    }

    /// Replaces the alarms with what `backend` holds (after a snapshot install).
    pub fn reload(&self, backend: &Backend) -> Result<()> {
        let fresh = Alarms::recover(backend)?;
        *self.active.lock() = fresh.list();
        Ok(())
    }

    pub fn list(&self) -> Vec<AlarmMember> {
        self.active.lock().clone()
    }

    pub fn has(&self, t: AlarmType) -> bool {
        self.active.lock().iter().any(|a| a.alarm == t as i32)
    }

    fn activate(&self, a: AlarmMember, batch: &mut Batch) -> bool {
        let mut act = self.active.lock();
        if act.contains(&a) {
            return false;
        }
        batch.put(Cf::Alarm, alarm_key(&a), Vec::new());
        act.push(a);
        true
    }

    fn deactivate(&self, a: &AlarmMember, batch: &mut Batch) -> bool {
        let mut act = self.active.lock();
        let before = act.len();
        act.retain(|x| x != a);
        if act.len() != before {
            batch.delete(Cf::Alarm, alarm_key(a));
            true
        } else {
            false
        }
    }
}

pub struct Applier {
    pub store: Arc<KvStore>,
    pub lessor: Arc<Lessor>,
    pub hub: Arc<WatchHub>,
    pub alarms: Arc<Alarms>,
    /// `--quota-backend-bytes` (resolved: never 0).
    pub quota: i64,
    pub member_id: u64,
    /// The membership as applied (shared with the member for the Cluster API).
    pub members: Arc<parking_lot::RwLock<Vec<MemberInfo>>>,
    /// Where membership changes reach the peer connections.
    pub transport: Arc<raft_node::transport::Transport>,
    /// Set once this member's own removal is applied.
    pub removed: std::sync::atomic::AtomicBool,
    pub auth: Arc<AuthStore>,
}

/// The ID the proposer waits on.
pub(super) fn request_id(req: &InternalRaftRequest) -> u64 {
    req.header
        .as_ref()
        .map(|h| h.id)
        .filter(|id| *id != 0)
        .unwrap_or(req.id)
}

pub(super) fn rev_header(rev: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision: rev,
        ..Default::default()
    })
}

impl Applier {
    /// Applies one committed entry; returns the waiting request's ID and its outcome.
    /// Entries at or below the store's consistent index were applied before a restart and
    /// are skipped, so replaying the WAL is idempotent.
    pub fn apply(&self, c: &Committed) -> Option<(u64, ApplyOutcome)> {
        if c.index <= self.store.consistent_index() {
            return None;
        }
        if let Some(cc) = &c.conf_change {
            let outcome = self.apply_conf_change(cc, c.index, c.term);
            if outcome.is_err() {
                let _ = self.store.mark_applied(c.index, c.term);
            }
            return Some((cc.id, outcome));
        }
        if c.data.is_empty() {
            if let Err(e) = self.store.mark_applied(c.index, c.term) {
                tracing::error!(error = %e, index = c.index, "cannot record applied index");
            }
            return None;
        }
        let req = match InternalRaftRequest::decode(c.data.as_slice()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, index = c.index, "undecodable raft entry skipped");
                let _ = self.store.mark_applied(c.index, c.term);
                return None;
            }
        };
        self.apply_request(c, &req)
    }

    /// [`Applier::apply`] once the entry is decoded (and known to be above the consistent
    /// index).
    pub(super) fn apply_request(&self, c: &Committed, req: &InternalRaftRequest) -> Option<(u64, ApplyOutcome)> {
        let id = request_id(req);
        let outcome = self.dispatch(req, c.index, c.term);
        if outcome.is_err() && self.store.consistent_index() < c.index {
            if let Err(e) = self.store.mark_applied(c.index, c.term) {
                tracing::error!(error = %e, index = c.index, "cannot record applied index");
            }
        }
        Some((id, outcome))
    }

    fn dispatch(&self, req: &InternalRaftRequest, index: u64, term: u64) -> ApplyOutcome {
        // Permissions again, in log order: a grant revoked since the request was admitted
        // is honoured.
        let user = req.header.as_ref().map(|h| h.username.clone()).unwrap_or_default();
        let checking = !user.is_empty() && self.auth.is_enabled();
        if checking {
            if let Some(p) = &req.put {
                authz::put(&self.auth, &user, p)?;
            }
            if let Some(d) = &req.delete_range {
                authz::delete(&self.auth, &user, d)?;
            }
            if let Some(t) = &req.txn {
                authz::txn(&self.auth, &user, t)?;
            }
            if let Some(r) = &req.lease_revoke {
                if !self.auth.is_admin(&user) {
                    for k in self.lessor.keys_of(r.id)? {
                        self.auth.check(&user, &k, b"", Need::Write)?;
                    }
                }
            }
        }
        if let Some(out) = self.apply_auth(req, index, term) {
            return out;
        }
        if let Some(p) = &req.put {
            self.check_space(p.key.len() + p.value.len())?;
            txn::check_put(&*self.store, p, Some(&self.lessor))?;
            let mut t = self.store.write();
            let mut resp = txn::put(&mut t, p)?;
            let rev = self.commit(t, index, term)?;
            resp.header = rev_header(rev);
            return Ok((Response::Put(resp), rev));
        }
        if let Some(d) = &req.delete_range {
            let mut t = self.store.write();
            let mut resp = txn::delete_range(&mut t, d)?;
            let rev = self.commit(t, index, term)?;
            resp.header = rev_header(rev);
            return Ok((Response::DeleteRange(resp), rev));
        }
        if let Some(r) = &req.txn {
            if txn::has_puts(r) {
                self.check_space(r.encoded_len())?;
            }
            let mut t = self.store.write();
            let path = txn::txn_path(&t, r)?;
            let mut pos = 0;
            txn::check_path(&t, r, &path, &mut pos, Some(&self.lessor))?;
            let mut pos = 0;
            let mut resp = txn::run_txn(&mut t, r, &path, &mut pos)?;
            let rev = self.commit(t, index, term)?;
            resp.header = rev_header(rev);
            return Ok((Response::Txn(resp), rev));
        }
        if let Some(c) = &req.compaction {
            self.store.compact(c.revision, index, term)?;
            let rev = self.store.current_revision();
            return Ok((
                Response::Compaction(CompactionResponse {
                    header: rev_header(rev),
                }),
                rev,
            ));
        }
        if let Some(g) = &req.lease_grant {
            self.check_space(16)?;
            let mut t = self.store.write();
            let ttl = self.lessor.grant(g.id, g.ttl, t.batch_mut())?;
            let rev = self.commit(t, index, term)?;
            return Ok((
                Response::LeaseGrant(LeaseGrantResponse {
                    header: rev_header(rev),
                    id: g.id,
                    ttl,
                    error: String::new(),
                }),
                rev,
            ));
        }
        if let Some(r) = &req.lease_revoke {
            let keys = self.lessor.keys_of(r.id)?;
            let mut t = self.store.write();
            for k in &keys {
                t.delete_range(&KeyRange::Single(k.clone()))?;
            }
            self.lessor.revoke(r.id, t.batch_mut())?;
            let rev = self.commit(t, index, term)?;
            return Ok((
                Response::LeaseRevoke(LeaseRevokeResponse {
                    header: rev_header(rev),
                }),
                rev,
            ));
        }
        if let Some(a) = &req.alarm {
            return self.apply_alarm(a, index, term);
        }
        if let Some(u) = &req.member_peer_update {
            let rev = self.store.current_revision();
            let urls = u.peer_urls.clone();
            self.update_members(index, term, |ms| match ms.iter_mut().find(|m| m.id == u.member_id) {
                Some(m) => {
                    m.peer_urls = urls.clone();
                    Ok(())
                }
                None => Err(Error::MemberNotFound),
            })?;
            self.transport.add_peer(u.member_id, u.peer_urls.clone());
            return Ok((Response::Empty, rev));
        }
        if let Some(a) = &req.member_attr_set {
            let rev = self.store.current_revision();
            let changed = {
                let mut ms = self.members.write();
                match ms.iter_mut().find(|m| m.id == a.member_id) {
                    Some(m) if m.name != a.name || m.client_urls != a.client_urls => {
                        m.name = a.name.clone();
                        m.client_urls = a.client_urls.clone();
                        Some(serde_json::to_vec(&*ms).map_err(|e| Error::Backend(e.to_string()))?)
                    }
                    _ => None,
                }
            };
            let mut b = Batch::default();
            if let Some(json) = changed {
                b.put(Cf::Meta, crate::member::MEMBERS_KEY, json);
            }
            if !b.is_empty() {
                self.store.backend().write(b)?;
            }
            self.store.mark_applied(index, term)?;
            return Ok((Response::Empty, rev));
        }
        Err(Error::Unimplemented("etcdserver: unsupported request in raft log"))
    }

    /// Auth changes (and Authenticate's token), committed atomically with the raft index.
    fn apply_auth(&self, req: &InternalRaftRequest, index: u64, term: u64) -> Option<ApplyOutcome> {
        let a = &self.auth;
        let run = |f: &dyn Fn(&mut Batch) -> Result<()>| -> ApplyOutcome {
            let mut t = self.store.write();
            f(t.batch_mut())?;
            let rev = self.commit(t, index, term)?;
            Ok((Response::Empty, rev))
        };
        if req.auth_enable.is_some() {
            return Some(run(&|b| a.enable(b)));
        }
        if req.auth_disable.is_some() {
            return Some(run(&|b| {
                a.disable(b);
                Ok(())
            }));
        }
        if let Some(x) = &req.authenticate {
            return Some(run(&|_| {
                if !a.is_enabled() {
                    return Err(Error::AuthNotEnabled);
                }
                a.user_get(&x.name).map_err(|_| Error::AuthFailed)?;
                a.assign_token(&x.simple_token, &x.name);
                Ok(())
            }));
        }
        if let Some(r) = &req.auth_user_add {
            let no_password = r.options.as_ref().map(|o| o.no_password).unwrap_or(false);
            return Some(run(&|b| a.user_add(&r.name, &r.hashed_password, no_password, b)));
        }
        if let Some(r) = &req.auth_user_delete {
            return Some(run(&|b| a.user_delete(&r.name, b)));
        }
        if let Some(r) = &req.auth_user_change_password {
            return Some(run(&|b| a.user_change_password(&r.name, &r.hashed_password, b)));
        }
        if let Some(r) = &req.auth_user_grant_role {
            return Some(run(&|b| a.user_grant_role(&r.user, &r.role, b)));
        }
        if let Some(r) = &req.auth_user_revoke_role {
            return Some(run(&|b| a.user_revoke_role(&r.name, &r.role, b)));
        }
        if let Some(r) = &req.auth_role_add {
            return Some(run(&|b| a.role_add(&r.name, b)));
        }
        if let Some(r) = &req.auth_role_delete {
            return Some(run(&|b| a.role_delete(&r.role, b)));
        }
        if let Some(r) = &req.auth_role_grant_permission {
            let perm = r.perm.clone().unwrap_or_default();
            return Some(run(&|b| a.role_grant_permission(&r.name, perm.clone(), b)));
        }
        if let Some(r) = &req.auth_role_revoke_permission {
            return Some(run(&|b| a.role_revoke_permission(&r.role, &r.key, &r.range_end, b)));
        }
        None
    }

    /// Installs the snapshot the leader sent (`index`): its database replaces ours, and
    /// everything derived from the database is reloaded. Entries after it apply on top.
    pub fn install_snapshot(&self, snap_dir: &std::path::Path, index: u64) -> Result<()> {
        let io = |what: &str, e: std::io::Error| Error::Backend(format!("install snapshot {index}: {what}: {e}"));
        let tar_path = raft_node::transport::incoming_snapshot_path(snap_dir, index);
        let staging = snap_dir.join("db.incoming");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| io("staging dir", e))?;
        let f = std::fs::File::open(&tar_path).map_err(|e| io("open", e))?;
        tar::Archive::new(f).unpack(&staging).map_err(|e| io("unpack", e))?;
        // A name no live or earlier database has, even for the same index twice.
        let name = format!("db.{index:016x}.{:08x}", rand::random::<u32>());
        let fresh = snap_dir.join(&name);
        std::fs::rename(staging.join("db"), &fresh).map_err(|e| io("move new db", e))?;
        let _ = std::fs::remove_dir_all(&staging);
        let backend = Arc::new(Backend::open(&fresh)?);
        self.store.replace_backend(backend.clone())?;
        self.lessor.reload(&backend)?;
        self.alarms.reload(&backend)?;
        self.auth.reload(&backend)?;
        let members: Vec<MemberInfo> = match backend.get(Cf::Meta, crate::member::MEMBERS_KEY)? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("members: {e}")))?,
            None => Vec::new(),
        };
        for m in &members {
            self.transport.add_peer(m.id, m.peer_urls.clone());
        }
        *self.members.write() = members;
        let old = crate::backend::layout::switch_live(snap_dir, &name).map_err(|e| io("switch db", e))?;
        self.hub.reset_after_install();
        // The old database closes when its last reader lets go; its files go with the dir.
        let _ = std::fs::remove_dir_all(&old);
        let _ = std::fs::remove_file(&tar_path);
        tracing::info!(
            index,
            revision = self.store.current_revision(),
            "installed snapshot from the leader"
        );
        Ok(())
    }

    /// A membership change raft applied: the member list (persisted with the applied index)
    /// and the peer connections follow it.
    fn apply_conf_change(&self, cc: &raft_node::eraftpb::ConfChange, index: u64, term: u64) -> ApplyOutcome {
        use raft_node::eraftpb::ConfChangeType;
        let rev = self.store.current_revision();
        let ctx = if cc.context.is_empty() {
            None
        } else {
            Some(
                proto::kvpeerpb::MemberContext::decode(cc.context.as_ref())
                    .map_err(|e| Error::Corrupt(format!("conf change context: {e}")))?,
            )
        };
        let id = cc.node_id;
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let learner = cc.get_change_type() == ConfChangeType::AddLearnerNode;
                let mut urls = None;
                self.update_members(index, term, |ms| {
                    match ms.iter_mut().find(|m| m.id == id) {
                        Some(m) => {
                            // A promotion (or a replayed add): keep what we know.
                            m.is_learner = learner;
                        }
                        None => {
                            if let Some(c) = ctx.clone() {
                                let mut m = MemberInfo::from_context(c);
                                m.id = id;
                                m.is_learner = learner;
                                urls = Some(m.peer_urls.clone());
                                ms.push(m);
                            }
                        }
                    }
                    Ok(())
                })?;
                if let Some(u) = urls {
                    self.transport.add_peer(id, u);
                }
            }
            ConfChangeType::RemoveNode => {
                self.update_members(index, term, |ms| {
                    ms.retain(|m| m.id != id);
                    Ok(())
                })?;
                self.transport.remove_peer(id);
                if id == self.member_id {
                    tracing::error!("the member has been permanently removed from the cluster");
                    self.removed.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        }
        Ok((Response::Empty, rev))
    }

    /// Changes the member list and persists it together with the applied index.
    fn update_members(&self, index: u64, term: u64, f: impl FnOnce(&mut Vec<MemberInfo>) -> Result<()>) -> Result<()> {
        let json = {
            let mut ms = self.members.write();
            f(&mut ms)?;
            serde_json::to_vec(&*ms).map_err(|e| Error::Backend(e.to_string()))?
        };
        let mut b = Batch::default();
        b.put(Cf::Meta, crate::member::MEMBERS_KEY, json);
        self.store.backend().write(b)?;
        self.store.mark_applied(index, term)
    }

    fn commit(&self, t: WriteTxn<'_>, index: u64, term: u64) -> Result<i64> {
        let (rev, changes): (i64, Vec<Change>) = t.commit(index, term)?;
        if !changes.is_empty() {
            self.lessor.track(&changes);
        }
        self.hub.notify(rev, &changes);
        Ok(rev)
    }

    /// etcd's quota: writes are refused once the backend is over `--quota-backend-bytes`,
    /// which also raises the NOSPACE alarm (until an operator disarms it).
    pub(super) fn check_space(&self, cost: usize) -> Result<()> {
        if self.alarms.has(AlarmType::Nospace) {
            return Err(Error::NoSpace);
        }
        if self.store.backend().approx_size() + cost as i64 > self.quota {
            let mut b = Batch::default();
            if self.alarms.activate(
                AlarmMember {
                    member_id: self.member_id,
                    alarm: AlarmType::Nospace as i32,
                },
                &mut b,
            ) {
                tracing::warn!(quota = self.quota, "database space exceeded; NOSPACE alarm raised");
                self.store.backend().write(b)?;
            }
            return Err(Error::NoSpace);
        }
        Ok(())
    }

    fn apply_alarm(&self, a: &AlarmRequest, index: u64, term: u64) -> ApplyOutcome {
        let rev = self.store.current_revision();
        let action = AlarmAction::try_from(a.action).unwrap_or(AlarmAction::Get);
        let member = AlarmMember {
            member_id: a.member_id,
            alarm: a.alarm,
        };
        let mut b = Batch::default();
        let alarms = match action {
            AlarmAction::Get => self.alarms.list(),
            AlarmAction::Activate => {
                if a.alarm == AlarmType::None as i32 {
                    Vec::new()
                } else if self.alarms.activate(member, &mut b) {
                    vec![member]
                } else {
                    Vec::new()
                }
            }
            AlarmAction::Deactivate => {
                if self.alarms.deactivate(&member, &mut b) {
                    vec![member]
                } else {
                    Vec::new()
                }
            }
        };
        if !b.is_empty() {
            self.store.backend().write(b)?;
        }
        self.store.mark_applied(index, term)?;
        Ok((
            Response::Alarm(AlarmResponse {
                header: rev_header(rev),
                alarms,
            }),
            rev,
        ))
    }
}
