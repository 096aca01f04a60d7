//! MVCC on RocksDB: one put per write txn (as the apply loop commits a single Put), a
//! 16-put txn, and ranges at the latest and at an old revision, over 10,000 keys.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kv::backend::Backend;
use kv::mvcc::{KeyRange, KvStore};

const KEYS: u64 = 10_000;

fn key(n: u64) -> Vec<u8> {
    format!("/registry/pods/ns{:02}/pod{n:08}", n % 10).into_bytes()
}

/// A store with `KEYS` keys, each written twice (so old revisions exist).
fn populated() -> (tempfile::TempDir, KvStore, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Arc::new(Backend::open(&dir.path().join("db")).expect("open backend"));
    let store = KvStore::open(backend).expect("open store");
    let mut index = 0;
    for round in 0..2 {
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(500) {
            let mut t = store.write();
            for &n in chunk {
                t.put(&key(n), format!("v{round}-{n}").repeat(16).as_bytes(), 0)
                    .expect("put");
            }
            index += 1;
            t.commit(index, 1).expect("commit");
        }
    }
    (dir, store, index)
}

fn mvcc_put(c: &mut Criterion) {
    let (_dir, store, mut index) = populated();
    let value = vec![b'x'; 256];
    let mut g = c.benchmark_group("mvcc_put");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    g.bench_function("single_put_txn", |b| {
        b.iter(|| {
            let mut t = store.write();
            t.put(black_box(&key(n % KEYS)), black_box(&value), 0).expect("put");
            index += 1;
            n += 1;
            t.commit(index, 1).expect("commit")
        })
    });
    g.throughput(Throughput::Elements(16));
    g.bench_function("16_put_txn", |b| {
        b.iter(|| {
            let mut t = store.write();
            for _ in 0..16 {
                t.put(&key(n % KEYS), &value, 0).expect("put");
                n += 7;
            }
            index += 1;
            t.commit(index, 1).expect("commit")
        })
    });
    g.finish();
}

fn mvcc_range(c: &mut Criterion) {
    let (_dir, store, _) = populated();
    let cur = store.current_revision();
    // The first of the two write rounds ends halfway through the history.
    let old = cur / 2;
    let single = KeyRange::new(&key(4242), b"");
    let prefix = KeyRange::new(b"/registry/pods/ns03/", b"/registry/pods/ns030");
    let all = KeyRange::new(b"\0", b"\0");
    let mut g = c.benchmark_group("mvcc_range");
    g.bench_function("single_key_latest", |b| {
        b.iter(|| store.range(black_box(&single), 0, 0, false).expect("range"))
    });
    g.bench_function("single_key_old_rev", |b| {
        b.iter(|| store.range(black_box(&single), old, 0, false).expect("range"))
    });
    g.bench_function("prefix_1000_keys_limit_100_latest", |b| {
        b.iter(|| store.range(black_box(&prefix), 0, 100, false).expect("range"))
    });
    g.bench_function("prefix_1000_keys_limit_100_old_rev", |b| {
        b.iter(|| store.range(black_box(&prefix), old, 100, false).expect("range"))
    });
    g.sample_size(20);
    g.bench_function("count_only_all_10000_keys", |b| {
        b.iter(|| store.range(black_box(&all), 0, 0, true).expect("range"))
    });
    g.finish();
}

criterion_group!(benches, mvcc_put, mvcc_range);
criterion_main!(benches);
