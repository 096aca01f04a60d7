//! Runs of plain puts applied as one backend write: each is staged in MVCC on top of the
//! ones before it, and once the run is written its watchers and waiters are told, in log
//! order. Any other entry (or the end of what raft handed over) writes the run first.

use prost::Message;
use proto::etcdserverpb::{InternalRaftRequest, PutRequest};
use raft_node::Committed;

use super::applier::{request_id, rev_header, Applier, Response};
use super::txn;
use super::wait::ApplyOutcome;
use crate::auth::check as authz;
use crate::error::Result;
use crate::mvcc::{Change, Staged};

/// Entries gathered at most before they are written.
const MAX_RUN: usize = 1024;

/// Where an applied entry's outcome goes once its effects are written: the entry's index and,
/// for a proposal someone waits on, its ID and outcome.
pub type Deliver<'a> = dyn FnMut(u64, Option<(u64, ApplyOutcome)>) + 'a;

/// Staged puts and what to report for each once they are written.
#[derive(Default)]
pub struct Group {
    staged: Staged,
    done: Vec<Done>,
}

struct Done {
    index: u64,
    outcome: Option<(u64, ApplyOutcome)>,
    rev: i64,
    changes: Vec<Change>,
}

/// A put whose outcome needs nothing from the backend: no previous value to return or keep.
fn plain_put(req: &InternalRaftRequest) -> Option<&PutRequest> {
    req.put
        .as_ref()
        .filter(|p| !p.prev_kv && !p.ignore_value && !p.ignore_lease)
}

impl Applier {
    /// Applies `c` (in log order), staging plain puts in `group`; `deliver` hears of every
    /// entry once its effects are written.
    pub fn apply_grouped(&self, c: &Committed, group: &mut Group, deliver: &mut Deliver<'_>) {
        if c.index > self.store.consistent_index() && c.conf_change.is_none() && !c.data.is_empty() {
            if let Ok(req) = InternalRaftRequest::decode(c.data.as_slice()) {
                if let Some(p) = plain_put(&req) {
                    self.stage_put(c, &req, p, group);
                    if group.done.len() >= MAX_RUN {
                        self.flush_group(group, deliver);
                    }
                    return;
                }
                self.flush_group(group, deliver);
                let out = self.apply_request(c, &req);
                deliver(c.index, out);
                return;
            }
        }
        self.flush_group(group, deliver);
        let out = self.apply(c);
        deliver(c.index, out);
    }

    /// Runs a plain put's checks and stages it; a refused put is recorded as applied.
    fn stage_put(&self, c: &Committed, req: &InternalRaftRequest, p: &PutRequest, group: &mut Group) {
        let id = request_id(req);
        let staged = (|| -> Result<(Response, i64, Vec<Change>)> {
            let user = req.header.as_ref().map(|h| h.username.as_str()).unwrap_or("");
            if !user.is_empty() && self.auth.is_enabled() {
                authz::put(&self.auth, user, p)?;
            }
            self.check_space(p.key.len() + p.value.len())?;
            txn::check_put(&*self.store, p, Some(&self.lessor))?;
            let mut t = self.store.write_after(&group.staged);
            let mut resp = txn::put(&mut t, p)?;
            let (rev, changes) = t.stage(c.index, c.term, &mut group.staged);
            resp.header = rev_header(rev);
            Ok((Response::Put(resp), rev, changes))
        })();
        let done = match staged {
            Ok((resp, rev, changes)) => Done {
                index: c.index,
                outcome: Some((id, Ok((resp, rev)))),
                rev,
                changes,
            },
            Err(e) => {
                group.staged.mark_applied(c.index, c.term);
                Done {
                    index: c.index,
                    outcome: Some((id, Err(e))),
                    rev: 0,
                    changes: Vec::new(),
                }
            }
        };
        group.done.push(done);
    }

    /// Writes what `group` holds, then tells watchers, the lessor and `deliver`, in order.
    pub fn flush_group(&self, group: &mut Group, deliver: &mut Deliver<'_>) {
        if group.done.is_empty() {
            return;
        }
        if let Err(e) = self.store.flush(&mut group.staged) {
            tracing::error!(error = %e, "cannot write applied entries");
            for d in group.done.drain(..) {
                deliver(d.index, d.outcome.map(|(id, _)| (id, Err(e.clone()))));
            }
            return;
        }
        for d in group.done.drain(..) {
            if !d.changes.is_empty() {
                self.lessor.track(&d.changes);
                self.hub.notify(d.rev, &d.changes);
            }
            deliver(d.index, d.outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use proto::etcdserverpb::{DeleteRangeRequest, RequestHeader};

    use super::*;
    use crate::apply::Alarms;
    use crate::auth::AuthStore;
    use crate::backend::Backend;
    use crate::error::Error;
    use crate::lease::Lessor;
    use crate::mvcc::{KeyRange, KvStore};
    use crate::watch::WatchHub;

    fn entry(index: u64, id: u64, mut req: InternalRaftRequest) -> Committed {
        req.header = Some(RequestHeader {
            id,
            ..Default::default()
        });
        Committed {
            index,
            term: 1,
            data: req.encode_to_vec(),
            conf_change: None,
            install_snapshot: false,
        }
    }

    fn put(key: &str, lease: i64) -> InternalRaftRequest {
        InternalRaftRequest {
            put: Some(PutRequest {
                key: key.into(),
                value: b"v".to_vec(),
                lease,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_run_of_puts_is_written_before_anyone_hears_of_it_and_in_log_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Arc::new(Backend::open(&dir.path().join("db")).expect("backend"));
        let store = Arc::new(KvStore::open(backend.clone()).expect("store"));
        let applier = Applier {
            store: store.clone(),
            lessor: Arc::new(Lessor::recover(&backend, 1).expect("lessor")),
            hub: WatchHub::new(store.clone()),
            alarms: Arc::new(Alarms::recover(&backend).expect("alarms")),
            quota: 1 << 30,
            member_id: 1,
            members: Default::default(),
            transport: raft_node::transport::Transport::new(1, 1, tokio::runtime::Handle::current(), None),
            removed: Default::default(),
            auth: Arc::new(AuthStore::recover(&backend, Duration::from_secs(300)).expect("auth")),
        };
        let delete = InternalRaftRequest {
            delete_range: Some(DeleteRangeRequest {
                key: b"a".to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let entries = [
            entry(1, 11, put("a", 0)),
            entry(2, 12, put("b", 99)), // no such lease: refused, still applied
            entry(3, 13, put("a", 0)),
            entry(4, 14, delete), // not a plain put: the run before it is written first
            entry(5, 15, put("c", 0)),
        ];
        let mut seen = Vec::new();
        let mut deliver = |index: u64, out: Option<(u64, ApplyOutcome)>| {
            // Whatever is delivered is already written and visible.
            assert!(
                store.consistent_index() >= index,
                "entry {index} delivered before its write"
            );
            let (id, outcome) = out.expect("every entry is a proposal");
            seen.push((index, id, outcome.map(|(_, rev)| rev)));
        };
        let mut group = Group::default();
        for c in &entries {
            applier.apply_grouped(c, &mut group, &mut deliver);
        }
        assert_eq!(store.current_revision(), 4, "the last put is staged, not visible");
        applier.flush_group(&mut group, &mut deliver);
        assert_eq!(
            seen,
            vec![
                (1, 11, Ok(2)),
                (2, 12, Err(Error::LeaseNotFound)),
                (3, 13, Ok(3)),
                (4, 14, Ok(4)),
                (5, 15, Ok(5)),
            ]
        );
        assert_eq!(store.consistent_index(), 5);
        let at3 = store.range(&KeyRange::new(b"a", b""), 3, 0, false).expect("range");
        let a = &at3.kvs[0];
        assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
        let now = store.range(&KeyRange::new(b"\0", b"\0"), 0, 0, false).expect("range");
        assert_eq!(
            now.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
            vec![b"c".to_vec()]
        );
    }
}
