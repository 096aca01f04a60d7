//! Range and Txn evaluation: etcd's rules for limits, sorting, revision filters, compares,
//! the pre-computed txn path, and the per-op checks, over any read view.

use std::borrow::Cow;
use std::cmp::Ordering as CmpOrdering;

use proto::etcdserverpb::{
    compare::{CompareResult, CompareTarget, TargetUnion},
    range_request::{SortOrder, SortTarget},
    request_op::Request,
    response_op, Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use proto::mvccpb::KeyValue;

use crate::error::{Error, Result};
use crate::lease::Lessor;
use crate::mvcc::{KeyRange, KvStore, RangeResult, WriteTxn};

/// Anything a Range can read from: the store, or a write txn that sees its own writes.
pub trait ReadView {
    fn range(&self, range: &KeyRange, rev: i64, limit: usize, count_only: bool) -> Result<RangeResult>;
    /// The revision a read with `revision == 0` sees.
    fn rev(&self) -> i64;
    fn compact_rev(&self) -> i64;
}

impl ReadView for KvStore {
    fn range(&self, range: &KeyRange, rev: i64, limit: usize, count_only: bool) -> Result<RangeResult> {
        KvStore::range(self, range, rev, limit, count_only)
    }
    fn rev(&self) -> i64 {
        self.current_revision()
    }
    fn compact_rev(&self) -> i64 {
        self.compact_revision()
    }
}

impl ReadView for WriteTxn<'_> {
    fn range(&self, range: &KeyRange, rev: i64, limit: usize, count_only: bool) -> Result<RangeResult> {
        WriteTxn::range(self, range, rev, limit, count_only)
    }
    fn rev(&self) -> i64 {
        self.read_revision()
    }
    fn compact_rev(&self) -> i64 {
        0
    }
}

fn header(rev: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision: rev,
        ..Default::default()
    })
}

/// A Range request, exactly as etcd answers it.
pub fn range(view: &dyn ReadView, r: &RangeRequest) -> Result<RangeResponse> {
    let sort_order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
    let sort_target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
    let filtered =
        r.min_mod_revision != 0 || r.max_mod_revision != 0 || r.min_create_revision != 0 || r.max_create_revision != 0;
    let mut fetch = if r.limit > 0 { r.limit as usize + 1 } else { 0 };
    if sort_order != SortOrder::None || filtered {
        fetch = 0;
    }
    let rr = view.range(&KeyRange::new(&r.key, &r.range_end), r.revision, fetch, r.count_only)?;
    let mut kvs = rr.kvs;
    if filtered {
        kvs.retain(|kv| {
            (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
        });
    }
    let order = if sort_target != SortTarget::Key && sort_order == SortOrder::None {
        SortOrder::Ascend
    } else {
        sort_order
    };
    if order != SortOrder::None {
        let key_of = |kv: &KeyValue| -> (i64, Vec<u8>) {
            match sort_target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, Vec::new()),
                SortTarget::Create => (kv.create_revision, Vec::new()),
                SortTarget::Mod => (kv.mod_revision, Vec::new()),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        kvs.sort_by(|a, b| {
            let o = key_of(a).cmp(&key_of(b));
            if order == SortOrder::Descend {
                o.reverse()
            } else {
                o
            }
        });
    }
    let mut more = false;
    if r.limit > 0 && kvs.len() > r.limit as usize {
        kvs.truncate(r.limit as usize);
        more = true;
    }
    if r.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: header(rr.rev),
        kvs,
        more,
        count: rr.count as i64,
    })
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let target = CompareTarget::try_from(c.target).unwrap_or(CompareTarget::Version);
    let ord = match target {
        CompareTarget::Value => {
            let v: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(v)
        }
        _ => {
            let want = match (&c.target_union, target) {
                (Some(TargetUnion::Version(v)), CompareTarget::Version) => *v,
                (Some(TargetUnion::CreateRevision(v)), CompareTarget::Create) => *v,
                (Some(TargetUnion::ModRevision(v)), CompareTarget::Mod) => *v,
                (Some(TargetUnion::Lease(v)), CompareTarget::Lease) => *v,
                _ => 0,
            };
            let have = match target {
                CompareTarget::Version => kv.version,
                CompareTarget::Create => kv.create_revision,
                CompareTarget::Mod => kv.mod_revision,
                CompareTarget::Lease => kv.lease,
                CompareTarget::Value => 0,
            };
            have.cmp(&want)
        }
    };
    match CompareResult::try_from(c.result).unwrap_or(CompareResult::Equal) {
        CompareResult::Equal => ord == CmpOrdering::Equal,
        CompareResult::NotEqual => ord != CmpOrdering::Equal,
        CompareResult::Greater => ord == CmpOrdering::Greater,
        CompareResult::Less => ord == CmpOrdering::Less,
    }
}

fn compare(view: &dyn ReadView, c: &Compare) -> Result<bool> {
    let rr = view.range(&KeyRange::new(&c.key, &c.range_end), 0, 0, false)?;
    if rr.kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            // A missing key never equals (or differs from) a value.
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(rr.kvs.iter().all(|kv| compare_kv(c, kv)))
}

/// Which branch each txn on the path takes, outer first then nested (pre-order), all
/// decided against the state before the txn runs, as etcd does.
pub fn txn_path(view: &dyn ReadView, t: &TxnRequest) -> Result<Vec<bool>> {
    let mut path = Vec::new();
    fill_path(view, t, &mut path)?;
    Ok(path)
}

fn fill_path(view: &dyn ReadView, t: &TxnRequest, path: &mut Vec<bool>) -> Result<()> {
    let mut ok = true;
    for c in &t.compare {
        if !compare(view, c)? {
            ok = false;
            break;
        }
    }
    path.push(ok);
    for op in if ok { &t.success } else { &t.failure } {
        if let Some(Request::RequestTxn(n)) = &op.request {
            fill_path(view, n, path)?;
        }
    }
    Ok(())
}

pub fn is_read_only(t: &TxnRequest) -> bool {
    t.success.iter().chain(t.failure.iter()).all(|op| match &op.request {
        Some(Request::RequestRange(_)) | None => true,
        Some(Request::RequestTxn(n)) => is_read_only(n),
        _ => false,
    })
}

pub fn has_puts(t: &TxnRequest) -> bool {
    t.success.iter().chain(t.failure.iter()).any(|op| match &op.request {
        Some(Request::RequestPut(_)) => true,
        Some(Request::RequestTxn(n)) => has_puts(n),
        _ => false,
    })
}

/// Checks every op on the chosen path before anything runs: puts name live leases and
/// existing keys for ignore_*, ranges name readable revisions.
pub fn check_path(
    view: &dyn ReadView,
    t: &TxnRequest,
    path: &[bool],
    pos: &mut usize,
    lessor: Option<&Lessor>,
) -> Result<()> {
    let ok = path.get(*pos).copied().unwrap_or(false);
    *pos += 1;
    for op in if ok { &t.success } else { &t.failure } {
        match &op.request {
            Some(Request::RequestPut(p)) => check_put(view, p, lessor)?,
            Some(Request::RequestRange(r)) => {
                if r.revision > view.rev() {
                    return Err(Error::FutureRev);
                }
                if r.revision > 0 && r.revision < view.compact_rev() {
                    return Err(Error::Compacted);
                }
            }
            Some(Request::RequestTxn(n)) => check_path(view, n, path, pos, lessor)?,
            _ => {}
        }
    }
    Ok(())
}

pub fn check_put(view: &dyn ReadView, p: &PutRequest, lessor: Option<&Lessor>) -> Result<()> {
    if p.lease != 0 {
        if let Some(l) = lessor {
            if !l.exists(p.lease) {
                return Err(Error::LeaseNotFound);
            }
        }
    }
    if p.ignore_value || p.ignore_lease {
        let rr = view.range(&KeyRange::new(&p.key, b""), 0, 0, false)?;
        if rr.kvs.is_empty() {
            return Err(Error::KeyNotFound);
        }
    }
    Ok(())
}

/// Runs a Put in a write txn (checks already done).
pub fn put(t: &mut WriteTxn<'_>, p: &PutRequest) -> Result<PutResponse> {
    let (value, lease) = if p.ignore_value || p.ignore_lease {
        let prev = t.get(&p.key)?.ok_or(Error::KeyNotFound)?;
        (
            if p.ignore_value {
                Cow::Owned(prev.value)
            } else {
                Cow::Borrowed(&p.value[..])
            },
            if p.ignore_lease { prev.lease } else { p.lease },
        )
    } else {
        (Cow::Borrowed(&p.value[..]), p.lease)
    };
    let prev = t.put_with(&p.key, &value, lease, p.prev_kv)?;
    Ok(PutResponse {
        header: header(t.revision()),
        prev_kv: if p.prev_kv { prev } else { None },
    })
}

pub fn delete_range(t: &mut WriteTxn<'_>, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse> {
    let deleted = t.delete_range(&KeyRange::new(&d.key, &d.range_end))?;
    let rev = t.read_revision();
    Ok(DeleteRangeResponse {
        header: header(rev),
        deleted: deleted.len() as i64,
        prev_kvs: if d.prev_kv { deleted } else { Vec::new() },
    })
}

/// Runs the ops of a txn along `path` in a write txn (or a read-only view: then only
/// ranges may appear).
pub fn run_txn(t: &mut WriteTxn<'_>, req: &TxnRequest, path: &[bool], pos: &mut usize) -> Result<TxnResponse> {
    let ok = path.get(*pos).copied().unwrap_or(false);
    *pos += 1;
    let mut responses = Vec::new();
    for op in if ok { &req.success } else { &req.failure } {
        let resp = match &op.request {
            Some(Request::RequestRange(r)) => response_op::Response::ResponseRange(range(&*t, r)?),
            Some(Request::RequestPut(p)) => response_op::Response::ResponsePut(put(t, p)?),
            Some(Request::RequestDeleteRange(d)) => response_op::Response::ResponseDeleteRange(delete_range(t, d)?),
            Some(Request::RequestTxn(n)) => response_op::Response::ResponseTxn(run_txn(t, n, path, pos)?),
            None => continue,
        };
        responses.push(ResponseOp { response: Some(resp) });
    }
    Ok(TxnResponse {
        header: header(t.read_revision()),
        succeeded: ok,
        responses,
    })
}

/// A read-only txn served without raft (after a linearizable barrier if asked).
pub fn read_only_txn(store: &KvStore, req: &TxnRequest) -> Result<TxnResponse> {
    let mut t = store.write();
    let path = txn_path(&t, req)?;
    let mut pos = 0;
    check_path(&t, req, &path, &mut pos, None)?;
    let mut pos = 0;
    run_txn(&mut t, req, &path, &mut pos)
    // `t` is dropped uncommitted: nothing was written.
}
