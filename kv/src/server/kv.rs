//! The KV service: request checks as etcd's `v3rpc/key.go` makes them, writes through raft,
//! reads after a linearizable barrier unless serializable.

use std::sync::Arc;

use proto::etcdserverpb::{
    kv_server::Kv, request_op::Request as Op, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, InternalRaftRequest, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    TxnRequest, TxnResponse,
};
use tonic::{Request, Response, Status};

use super::authz;
use super::errors::status;
use crate::apply::{txn, Response as Applied};
use crate::error::{Error, Result as KvResult};
use crate::member::Member;
use crate::mvcc::KeyRange;

pub struct KvService {
    pub member: Arc<Member>,
}

fn check_range(r: &RangeRequest) -> KvResult<()> {
    if r.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

fn check_put(r: &PutRequest) -> KvResult<()> {
    if r.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(Error::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(Error::LeaseProvided);
    }
    Ok(())
}

fn check_delete(r: &DeleteRangeRequest) -> KvResult<()> {
    if r.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest`: op counts, empty keys, recursively.
pub fn check_txn(r: &TxnRequest, max_ops: usize) -> KvResult<()> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    if opc > max_ops {
        return Err(Error::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(Error::EmptyKey);
    }
    for op in r.success.iter().chain(r.failure.iter()) {
        match &op.request {
            Some(Op::RequestRange(x)) => check_range(x)?,
            Some(Op::RequestPut(x)) => check_put(x)?,
            Some(Op::RequestDeleteRange(x)) => check_delete(x)?,
            Some(Op::RequestTxn(x)) => check_txn(x, max_ops)?,
            None => {}
        }
    }
    Ok(())
}

/// etcd's `checkIntervals`: no key put twice, and no put inside a deleted range, at any
/// nesting level (puts in the two branches of one nested txn may repeat each other).
pub fn check_intervals(ops: &[RequestOp]) -> KvResult<(Vec<Vec<u8>>, Vec<KeyRange>)> {
    let mut dels: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Op::RequestDeleteRange(d)) => Some(KeyRange::new(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let mut puts: Vec<Vec<u8>> = Vec::new();
    let hit = |dels: &[KeyRange], k: &[u8]| dels.iter().any(|d| d.contains(k));
    for op in ops {
        let Some(Op::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (then_puts, then_dels) = check_intervals(&t.success)?;
        let (else_puts, else_dels) = check_intervals(&t.failure)?;
        for k in &then_puts {
            if puts.contains(k) || hit(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.push(k.clone());
        }
        for k in &else_puts {
            if (puts.contains(k) && !then_puts.contains(k)) || hit(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            if !puts.contains(k) {
                puts.push(k.clone());
            }
        }
        dels.extend(then_dels);
        dels.extend(else_dels);
    }
    for op in ops {
        let Some(Op::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || hit(&dels, &p.key) {
            return Err(Error::DuplicateKey);
        }
        puts.push(p.key.clone());
    }
    Ok((puts, dels))
}

impl KvService {
    async fn range_inner(&self, r: RangeRequest, user: Option<String>) -> KvResult<RangeResponse> {
        check_range(&r)?;
        if let Some(u) = &user {
            crate::auth::check::range(&self.member.auth, u, &r)?;
        }
        if !r.serializable && self.member.is_learner() {
            return Err(Error::NotSupportedForLearner);
        }
        if !r.serializable {
            self.member.linearizable_barrier().await?;
        }
        self.member.metrics.mvcc_ops.with_label_values(&["range"]).inc();
        let mut resp = self.member.read(move |s| txn::range(s, &r)).await?;
        let rev = resp.header.as_ref().map(|h| h.revision).unwrap_or(0);
        resp.header = Some(self.member.header(rev));
        Ok(resp)
    }

    async fn txn_inner(&self, r: TxnRequest, user: Option<String>) -> KvResult<TxnResponse> {
        if let Some(u) = &user {
            crate::auth::check::txn(&self.member.auth, u, &r)?;
        }
        if self.member.is_learner() && !(txn::is_read_only(&r) && all_serializable(&r)) {
            return Err(Error::NotSupportedForLearner);
        }
        check_txn(&r, self.member.cfg.max_txn_ops)?;
        check_intervals(&r.success)?;
        check_intervals(&r.failure)?;
        self.member.metrics.mvcc_ops.with_label_values(&["txn"]).inc();
        if txn::is_read_only(&r) {
            // etcd serves read-only txns locally, linearizable unless every range is serializable.
            let serializable = all_serializable(&r);
            if !serializable {
                self.member.linearizable_barrier().await?;
            }
            let mut resp = self.member.read(move |s| txn::read_only_txn(s, &r)).await?;
            let rev = resp.header.as_ref().map(|h| h.revision).unwrap_or(0);
            resp.header = Some(self.member.header(rev));
            return Ok(resp);
        }
        let (resp, rev) = self
            .member
            .propose_as(
                InternalRaftRequest {
                    txn: Some(r),
                    ..Default::default()
                },
                user,
            )
            .await?;
        match resp {
            Applied::Txn(mut t) => {
                t.header = Some(self.member.header(rev));
                Ok(t)
            }
            _ => Err(Error::Backend("unexpected apply response".into())),
        }
    }
}

/// etcd's `isTxnSerializable`: every op is a serializable range (a nested txn is not).
fn all_serializable(r: &TxnRequest) -> bool {
    r.success
        .iter()
        .chain(r.failure.iter())
        .all(|op| matches!(&op.request, Some(Op::RequestRange(x)) if x.serializable))
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let user = authz::caller(&self.member, &req).map_err(status)?;
        self.range_inner(req.into_inner(), user)
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let user = authz::caller(&self.member, &req).map_err(status)?;
        let r = req.into_inner();
        check_put(&r).map_err(status)?;
        if let Some(u) = &user {
            crate::auth::check::put(&self.member.auth, u, &r).map_err(status)?;
        }
        if self.member.is_learner() {
            return Err(status(Error::NotSupportedForLearner));
        }
        self.member.metrics.mvcc_ops.with_label_values(&["put"]).inc();
        let (resp, rev) = self
            .member
            .propose_as(
                InternalRaftRequest {
                    put: Some(r),
                    ..Default::default()
                },
                user,
            )
            .await
            .map_err(status)?;
        match resp {
            Applied::Put(mut p) => {
                p.header = Some(self.member.header(rev));
                Ok(Response::new(p))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }

    async fn delete_range(&self, req: Request<DeleteRangeRequest>) -> Result<Response<DeleteRangeResponse>, Status> {
        let user = authz::caller(&self.member, &req).map_err(status)?;
        let r = req.into_inner();
        check_delete(&r).map_err(status)?;
        if let Some(u) = &user {
            crate::auth::check::delete(&self.member.auth, u, &r).map_err(status)?;
        }
        if self.member.is_learner() {
            return Err(status(Error::NotSupportedForLearner));
        }
        self.member.metrics.mvcc_ops.with_label_values(&["delete"]).inc();
        let (resp, rev) = self
            .member
            .propose_as(
                InternalRaftRequest {
                    delete_range: Some(r),
                    ..Default::default()
                },
                user,
            )
            .await
            .map_err(status)?;
        match resp {
            Applied::DeleteRange(mut d) => {
                d.header = Some(self.member.header(rev));
                Ok(Response::new(d))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let user = authz::caller(&self.member, &req).map_err(status)?;
        self.txn_inner(req.into_inner(), user)
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn compact(&self, req: Request<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        authz::admin(&self.member, &req).map_err(status)?;
        let r = req.into_inner();
        let (resp, rev) = self
            .member
            .propose(InternalRaftRequest {
                compaction: Some(r),
                ..Default::default()
            })
            .await
            .map_err(status)?;
        match resp {
            Applied::Compaction(mut c) => {
                c.header = Some(self.member.header(rev));
                Ok(Response::new(c))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::etcdserverpb::{DeleteRangeRequest, PutRequest};

    fn put(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestPut(PutRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }
    fn del(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }
    fn nested(then: Vec<RequestOp>, els: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestTxn(TxnRequest {
                compare: vec![],
                success: then,
                failure: els,
            })),
        }
    }

    #[test]
    fn duplicate_keys_are_found_at_every_level() {
        assert!(check_intervals(&[put("a"), put("b")]).is_ok());
        assert_eq!(check_intervals(&[put("a"), put("a")]).err(), Some(Error::DuplicateKey));
        assert_eq!(
            check_intervals(&[del("a", "c"), put("b")]).err(),
            Some(Error::DuplicateKey)
        );
        assert!(check_intervals(&[del("a", "b"), del("a", "c")]).is_ok());
        assert!(check_intervals(&[nested(vec![put("x")], vec![put("x")])]).is_ok());
        assert_eq!(
            check_intervals(&[put("x"), nested(vec![put("x")], vec![])]).err(),
            Some(Error::DuplicateKey)
        );
        assert_eq!(
            check_intervals(&[del("x", ""), nested(vec![], vec![put("x")])]).err(),
            Some(Error::DuplicateKey)
        );
    }

    #[test]
    fn txn_limits() {
        let t = TxnRequest {
            compare: vec![],
            success: (0..129).map(|i| put(&format!("k{i}"))).collect(),
            failure: vec![],
        };
        assert_eq!(check_txn(&t, 128).err(), Some(Error::TooManyOps));
        assert!(check_txn(&t, 129).is_ok());
        let empty = TxnRequest {
            compare: vec![],
            success: vec![put("")],
            failure: vec![],
        };
        assert_eq!(check_txn(&empty, 128).err(), Some(Error::EmptyKey));
    }
}
