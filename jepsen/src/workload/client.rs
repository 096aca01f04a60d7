//! One request of the register workload against an etcd-v3 KV service: maps a [`Call`] to
//! Range / Put / Txn / DeleteRange and the response back to a [`Ret`].
//!
//! Owner: the calling client task. Keys live under a per-run prefix, so runs never collide.

use crate::history::{Call, Kv, Ret, Value, FOREIGN_VALUE};
use proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::request_op::Request;
use proto::etcdserverpb::response_op::Response;
use proto::etcdserverpb::{Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};
use proto::mvccpb::KeyValue;
use tonic::transport::Channel;

/// The run's key space: `count` registers `<prefix>k<i>` and a sentinel `<prefix>sentinel`.
#[derive(Clone, Debug)]
pub struct Keys {
    pub prefix: String,
    pub count: usize,
}

/// `key + 1` in the last byte: the end of a prefix range.
pub fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut e = p.to_vec();
    while let Some(last) = e.pop() {
        if last < 0xff {
            e.push(last + 1);
            return e;
        }
    }
    vec![0]
}

impl Keys {
    pub fn key(&self, i: usize) -> Vec<u8> {
        format!("{}k{i}", self.prefix).into_bytes()
    }

    /// Index of a register key, None for other keys.
    pub fn parse(&self, key: &[u8]) -> Option<usize> {
        let rest = key.strip_prefix(self.prefix.as_bytes())?.strip_prefix(b"k")?;
        let i: usize = std::str::from_utf8(rest).ok()?.parse().ok()?;
        (i < self.count).then_some(i)
    }

    pub fn sentinel(&self) -> Vec<u8> {
        format!("{}sentinel", self.prefix).into_bytes()
    }

    /// Range covering all registers (not the sentinel).
    pub fn registers(&self) -> (Vec<u8>, Vec<u8>) {
        let start = format!("{}k", self.prefix).into_bytes();
        let end = prefix_end(&start);
        (start, end)
    }

    /// Range covering everything this run writes (watched prefix).
    pub fn all(&self) -> (Vec<u8>, Vec<u8>) {
        let start = self.prefix.clone().into_bytes();
        let end = prefix_end(&start);
        (start, end)
    }
}

pub fn parse_value(b: &[u8]) -> Value {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FOREIGN_VALUE)
}

fn kv_of(kv: &KeyValue) -> Kv {
    Kv {
        value: parse_value(&kv.value),
        mod_rev: kv.mod_revision,
    }
}

fn rev_of(h: Option<&proto::etcdserverpb::ResponseHeader>) -> i64 {
    h.map(|h| h.revision).unwrap_or(0)
}

/// Executes `call`. `serializable` reads are member-local (used only by the anomaly mode).
pub async fn execute(
    kv: &mut KvClient<Channel>,
    keys: &Keys,
    call: &Call,
    serializable: bool,
) -> Result<Ret, tonic::Status> {
    match call {
        Call::Get { key } => {
            let req = RangeRequest {
                key: keys.key(*key),
                serializable,
                ..Default::default()
            };
            let r = kv.range(req).await?.into_inner();
            Ok(Ret::Get {
                kv: r.kvs.first().map(kv_of),
                rev: rev_of(r.header.as_ref()),
            })
        }
        Call::Range => {
            let (key, range_end) = keys.registers();
            let req = RangeRequest {
                key,
                range_end,
                serializable,
                ..Default::default()
            };
            let r = kv.range(req).await?.into_inner();
            let kvs = r
                .kvs
                .iter()
                .filter_map(|k| Some((keys.parse(&k.key)?, kv_of(k))))
                .collect();
            Ok(Ret::Range {
                kvs,
                rev: rev_of(r.header.as_ref()),
            })
        }
        Call::Put { key, value } => {
            let req = PutRequest {
                key: keys.key(*key),
                value: value.to_string().into_bytes(),
                prev_kv: true,
                ..Default::default()
            };
            let r = kv.put(req).await?.into_inner();
            Ok(Ret::Put {
                prev: r.prev_kv.map(|k| parse_value(&k.value)),
                rev: rev_of(r.header.as_ref()),
            })
        }
        Call::CasValue { key, expect, value } | Call::CasRev { key, expect, value, .. } => {
            let k = keys.key(*key);
            let compare = match (call, expect) {
                (Call::CasRev { rev, .. }, _) => Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Mod as i32,
                    key: k.clone(),
                    target_union: Some(TargetUnion::ModRevision(*rev)),
                    ..Default::default()
                },
                (_, Some(v)) => Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Value as i32,
                    key: k.clone(),
                    target_union: Some(TargetUnion::Value(v.to_string().into_bytes())),
                    ..Default::default()
                },
                (_, None) => Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Version as i32,
                    key: k.clone(),
                    target_union: Some(TargetUnion::Version(0)),
                    ..Default::default()
                },
            };
            let put = PutRequest {
                key: k.clone(),
                value: value.to_string().into_bytes(),
                ..Default::default()
            };
            let get = RangeRequest {
                key: k,
                ..Default::default()
            };
            let req = TxnRequest {
                compare: vec![compare],
                success: vec![RequestOp {
                    request: Some(Request::RequestPut(put)),
                }],
                failure: vec![RequestOp {
                    request: Some(Request::RequestRange(get)),
                }],
            };
            let r = kv.txn(req).await?.into_inner();
            let current = if r.succeeded {
                None
            } else {
                r.responses
                    .iter()
                    .find_map(|x| match &x.response {
                        Some(Response::ResponseRange(rr)) => Some(rr.kvs.first().map(kv_of)),
                        _ => None,
                    })
                    .flatten()
            };
            Ok(Ret::Cas {
                succeeded: r.succeeded,
                current,
                rev: rev_of(r.header.as_ref()),
            })
        }
        Call::Delete { key } => {
            let req = DeleteRangeRequest {
                key: keys.key(*key),
                prev_kv: true,
                ..Default::default()
            };
            let r = kv.delete_range(req).await?.into_inner();
            let prev = r.prev_kvs.first().map(|k| parse_value(&k.value));
            Ok(Ret::Delete {
                prev,
                rev: rev_of(r.header.as_ref()),
            })
        }
    }
}

/// Whether a failed write certainly did not take effect (etcd rejects these before proposing).
pub fn definitely_not_applied(status: &tonic::Status) -> bool {
    let m = status.message();
    m.contains("too many requests") || m.contains("too many operations in txn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ranges() {
        let k = Keys {
            prefix: "jepsen/run/".into(),
            count: 3,
        };
        assert_eq!(k.key(2), b"jepsen/run/k2".to_vec());
        assert_eq!(k.parse(b"jepsen/run/k2"), Some(2));
        assert_eq!(k.parse(b"jepsen/run/k3"), None);
        assert_eq!(k.parse(b"jepsen/run/sentinel"), None);
        assert_eq!(k.parse(b"other/k1"), None);
        assert_eq!(k.registers(), (b"jepsen/run/k".to_vec(), b"jepsen/run/l".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn values_parse_or_are_foreign() {
        assert_eq!(parse_value(b"42"), 42);
        assert_eq!(parse_value(b"end"), FOREIGN_VALUE);
    }
}
