//! Txn evaluation as kube-apiserver drives it: the compare path of a
//! mod_revision-guarded put (`apply::txn::txn_path`), a read-only txn, and an etcd-exact
//! Range (`apply::txn::range`); plus watch dispatch (`WatchHub::notify`) to N watchers.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kv::apply::txn;
use kv::backend::Backend;
use kv::mvcc::{Change, KeyRange, KvStore};
use kv::watch::{StreamMsg, WatchHub, WatchSpec};
use proto::etcdserverpb::{
    compare::{CompareResult, CompareTarget, TargetUnion},
    request_op, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use proto::mvccpb::KeyValue;

fn store_with(keys: u64) -> (tempfile::TempDir, Arc<KvStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Arc::new(Backend::open(&dir.path().join("db")).expect("open backend"));
    let store = KvStore::open(backend).expect("open store");
    let mut t = store.write();
    for n in 0..keys {
        t.put(&key(n), &[b'v'; 256], 0).expect("put");
    }
    t.commit(1, 1).expect("commit");
    (dir, Arc::new(store))
}

fn key(n: u64) -> Vec<u8> {
    format!("/registry/configmaps/default/cm{n:06}").into_bytes()
}

fn cas(key: Vec<u8>, mod_rev: i64) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Mod as i32,
            key: key.clone(),
            target_union: Some(TargetUnion::ModRevision(mod_rev)),
            ..Default::default()
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key.clone(),
                value: vec![b'w'; 256],
                ..Default::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(request_op::Request::RequestRange(RangeRequest {
                key,
                ..Default::default()
            })),
        }],
    }
}

fn txn_compare(c: &mut Criterion) {
    let (_dir, store) = store_with(1_000);
    let rev = store.current_revision();
    let hit = cas(key(500), rev);
    let miss = cas(key(500), rev - 1);
    let ro = TxnRequest {
        compare: hit.compare.clone(),
        success: hit.failure.clone(),
        failure: Vec::new(),
    };
    let list = RangeRequest {
        key: b"/registry/configmaps/".to_vec(),
        range_end: b"/registry/configmaps0".to_vec(),
        limit: 100,
        ..Default::default()
    };
    let mut g = c.benchmark_group("txn");
    g.bench_function("txn_path_mod_rev_equal", |b| {
        b.iter(|| txn::txn_path(store.as_ref(), black_box(&hit)).expect("path"))
    });
    g.bench_function("txn_path_mod_rev_conflict", |b| {
        b.iter(|| txn::txn_path(store.as_ref(), black_box(&miss)).expect("path"))
    });
    g.bench_function("read_only_txn_compare_then_get", |b| {
        b.iter(|| txn::read_only_txn(&store, black_box(&ro)).expect("txn"))
    });
    g.bench_function("range_request_list_limit_100", |b| {
        b.iter(|| txn::range(store.as_ref(), black_box(&list)).expect("range"))
    });
    g.finish();
}

fn watch_dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = rt.enter();
    let (_dir, store) = store_with(0);
    let change = Change {
        kv: KeyValue {
            key: b"/registry/pods/default/p1".to_vec(),
            value: vec![b'v'; 256],
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            ..Default::default()
        },
        prev: None,
        deleted: false,
        prev_partial: false,
    };
    let mut g = c.benchmark_group("watch_notify");
    for (watchers, matching) in [(10usize, true), (1000, true), (1000, false)] {
        let hub = WatchHub::new(store.clone());
        let stream = hub.new_stream();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<StreamMsg>(1 << 16);
        let prefix: &[u8] = if matching {
            b"/registry/pods/"
        } else {
            b"/registry/nodes/"
        };
        let mut end = prefix.to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        for id in 0..watchers as i64 {
            let spec = WatchSpec {
                range: KeyRange::new(prefix, &end),
                start_rev: 0,
                prev_kv: false,
                no_put: false,
                no_delete: false,
                progress_notify: false,
            };
            hub.watch(stream, id, spec, tx.clone()).expect("watch");
        }
        while rx.try_recv().is_ok() {}
        let label = format!(
            "{watchers}_watchers_{}",
            if matching { "all_match" } else { "none_match" }
        );
        let mut rev = store.current_revision();
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                rev += 1;
                let mut ch = change.clone();
                ch.kv.mod_revision = rev;
                hub.notify(rev, black_box(&[ch]));
                while rx.try_recv().is_ok() {}
            })
        });
    }
    g.finish();
}

criterion_group!(benches, txn_compare, watch_dispatch);
criterion_main!(benches);
