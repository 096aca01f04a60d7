//! What each request needs, checked against a user's permissions: the same rules serve the
//! gRPC layer (early, with etcd's errors) and the apply loop (again, in log order, so a
//! permission revoked in between is honoured).

use proto::etcdserverpb::{request_op::Request as Op, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest};

use super::{AuthStore, Need};
use crate::error::Result;

pub fn range(a: &AuthStore, user: &str, r: &RangeRequest) -> Result<()> {
    a.check(user, &r.key, &r.range_end, Need::Read)
}

pub fn put(a: &AuthStore, user: &str, r: &PutRequest) -> Result<()> {
    a.check(user, &r.key, b"", Need::Write)
}

pub fn delete(a: &AuthStore, user: &str, r: &DeleteRangeRequest) -> Result<()> {
    a.check(user, &r.key, &r.range_end, Need::Write)
}

/// Every key a txn touches, in both branches and every nested txn, compares included.
pub fn txn(a: &AuthStore, user: &str, t: &TxnRequest) -> Result<()> {
    for c in &t.compare {
        a.check(user, &c.key, &c.range_end, Need::Read)?;
    }
    for op in t.success.iter().chain(t.failure.iter()) {
        match &op.request {
            Some(Op::RequestRange(r)) => range(a, user, r)?,
            Some(Op::RequestPut(p)) => put(a, user, p)?,
            Some(Op::RequestDeleteRange(d)) => delete(a, user, d)?,
            Some(Op::RequestTxn(n)) => txn(a, user, n)?,
            None => {}
        }
    }
    Ok(())
}
