//! Watch semantics through the wire: created before events, ordering and atomicity,
//! prev_kv and filters, history replay, compacted starts, progress, cancel, slow watchers.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestMember;
use proto::etcdserverpb::{
    watch_create_request::FilterType, watch_request::RequestUnion, CompactionRequest, TxnRequest, WatchCancelRequest,
    WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

struct Stream {
    tx: mpsc::Sender<WatchRequest>,
    rx: Streaming<WatchResponse>,
}

impl Stream {
    /// A watch stream on its own connection, as another client's would be (an unread stream
    /// holds HTTP/2 flow-control credit of the connection it shares).
    async fn open(m: &TestMember) -> Stream {
        let (tx, rx) = mpsc::channel(16);
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", m.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut client = proto::etcdserverpb::watch_client::WatchClient::new(channel);
        let resp = client.watch(ReceiverStream::new(rx)).await.expect("watch");
        Stream {
            tx,
            rx: resp.into_inner(),
        }
    }
    async fn send(&self, r: RequestUnion) {
        self.tx
            .send(WatchRequest { request_union: Some(r) })
            .await
            .expect("send");
    }
    async fn create(&self, c: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(c)).await;
    }
    async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("response in time")
            .expect("stream ok")
            .expect("stream open")
    }
}

fn prefix(p: &str) -> (Vec<u8>, Vec<u8>) {
    let mut end = p.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (p.as_bytes().to_vec(), end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_then_events_with_prev_kv_and_filters() {
    let m = TestMember::start(&[]).await;
    let mut s = Stream::open(&m).await;
    let (key, range_end) = prefix("a/");
    s.create(WatchCreateRequest {
        key: key.clone(),
        range_end: range_end.clone(),
        prev_kv: true,
        ..Default::default()
    })
    .await;
    let created = s.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!(created.watch_id, 0, "auto IDs start at 0 as in etcd");
    s.create(WatchCreateRequest {
        key,
        range_end,
        filters: vec![FilterType::Noput as i32],
        watch_id: 7,
        ..Default::default()
    })
    .await;
    let c2 = s.next().await;
    assert!(c2.created);
    assert_eq!(c2.watch_id, 7);
    m.put("a/1", "x").await;
    let rev = m.put("a/1", "y").await;
    m.put("b/1", "outside").await;
    let _ = m
        .kv()
        .delete_range(proto::etcdserverpb::DeleteRangeRequest {
            key: b"a/1".to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let mut puts = Vec::new();
    let mut deletes_seen_by_7 = 0;
    while puts.len() < 3 || deletes_seen_by_7 < 1 {
        let r = s.next().await;
        for e in &r.events {
            if r.watch_id == 0 {
                puts.push(e.clone());
            } else {
                assert_eq!(r.watch_id, 7);
                assert_eq!(e.r#type, 1, "NOPUT watcher sees only deletes");
                assert!(e.prev_kv.is_none(), "prev_kv only when asked");
                deletes_seen_by_7 += 1;
            }
        }
    }
    assert_eq!(puts.len(), 3);
    let kv1 = puts[1].kv.as_ref().expect("kv");
    assert_eq!((kv1.value.as_slice(), kv1.mod_revision), (&b"y"[..], rev));
    assert_eq!(puts[1].prev_kv.as_ref().map(|p| p.value.clone()), Some(b"x".to_vec()));
    assert_eq!(puts[2].r#type, 1);
    assert_eq!(puts[2].prev_kv.as_ref().map(|p| p.value.clone()), Some(b"y".to_vec()));
    assert_eq!(puts[2].kv.as_ref().map(|k| k.mod_revision), Some(rev + 2));

    // Duplicate client-chosen ID: created + canceled, as etcd answers.
    s.create(WatchCreateRequest {
        key: b"z".to_vec(),
        watch_id: 7,
        ..Default::default()
    })
    .await;
    let dup = s.next().await;
    assert!(dup.created && dup.canceled);
    assert!(
        dup.cancel_reason.contains("duplicate watch ID"),
        "{}",
        dup.cancel_reason
    );

    // Cancel is answered; no events afterwards.
    s.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 0 }))
        .await;
    let c = s.next().await;
    assert!(c.canceled && c.watch_id == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_history_and_compacted_start() {
    let m = TestMember::start(&[]).await;
    let first = m.put("k", "1").await;
    m.put("k", "2").await;
    m.put("k", "3").await;
    let mut s = Stream::open(&m).await;
    s.create(WatchCreateRequest {
        key: b"k".to_vec(),
        start_revision: first,
        ..Default::default()
    })
    .await;
    assert!(s.next().await.created);
    let mut values = Vec::new();
    while values.len() < 3 {
        for e in s.next().await.events {
            values.push(e.kv.expect("kv").value);
        }
    }
    assert_eq!(values, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);

    m.kv()
        .compact(CompactionRequest {
            revision: first + 2,
            physical: true,
        })
        .await
        .expect("compact");
    s.create(WatchCreateRequest {
        key: b"k".to_vec(),
        start_revision: first,
        watch_id: 9,
        ..Default::default()
    })
    .await;
    let created = s.next().await;
    assert!(created.created && created.watch_id == 9);
    let cancel = s.next().await;
    assert!(cancel.canceled, "{cancel:?}");
    assert_eq!(cancel.watch_id, 9);
    assert_eq!(cancel.compact_revision, first + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_request_reports_the_current_revision() {
    let m = TestMember::start(&[]).await;
    let mut s = Stream::open(&m).await;
    s.create(WatchCreateRequest {
        key: b"p".to_vec(),
        ..Default::default()
    })
    .await;
    assert!(s.next().await.created);
    let rev = m.put("other", "v").await;
    s.send(RequestUnion::ProgressRequest(WatchProgressRequest {})).await;
    let p = s.next().await;
    assert_eq!(p.watch_id, -1);
    assert!(p.events.is_empty() && !p.created && !p.canceled);
    assert_eq!(p.header.expect("header").revision, rev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_gets_every_revision_once_in_order() {
    let m = TestMember::start(&[]).await;
    let mut s = Stream::open(&m).await;
    s.create(WatchCreateRequest {
        key: b"s/".to_vec(),
        range_end: b"s0".to_vec(),
        ..Default::default()
    })
    .await;
    assert!(s.next().await.created);
    // Write far more than the stream buffers and the HTTP/2 window hold (2 × 4 KiB per
    // revision) while nobody reads; each txn puts two keys so atomicity can be checked too.
    let value = vec![b'v'; 4096];
    let n = 2000;
    let mut last = 0;
    for i in 0..n {
        let ops = ["a", "b"]
            .iter()
            .map(|k| proto::etcdserverpb::RequestOp {
                request: Some(proto::etcdserverpb::request_op::Request::RequestPut(
                    proto::etcdserverpb::PutRequest {
                        key: format!("s/{i}/{k}").into_bytes(),
                        value: value.clone(),
                        ..Default::default()
                    },
                )),
            })
            .collect();
        let r = m
            .kv()
            .txn(TxnRequest {
                compare: vec![],
                success: ops,
                failure: vec![],
            })
            .await
            .expect("txn")
            .into_inner();
        last = r.header.expect("header").revision;
    }
    let mut seen = HashSet::new();
    let mut prev_rev = 0;
    while prev_rev < last {
        let r = s.next().await;
        let mut by_rev = std::collections::BTreeMap::<i64, usize>::new();
        for e in &r.events {
            let kv = e.kv.as_ref().expect("kv");
            assert!(kv.mod_revision >= prev_rev, "events in revision order");
            assert!(seen.insert(kv.key.clone()), "event delivered twice: {:?}", kv.key);
            *by_rev.entry(kv.mod_revision).or_default() += 1;
            prev_rev = kv.mod_revision;
        }
        for (rev, count) in by_rev {
            assert_eq!(count, 2, "revision {rev} split across responses");
        }
    }
    assert_eq!(seen.len(), 2 * n);
}
