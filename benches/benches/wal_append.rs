//! WAL append: `Wal::save` of 1/16/128 entries (256-byte payloads) with the fsync every save
//! pays (group commit amortises it over the batch), and without fsync (framing + CRC + write).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raft_proto::eraftpb::{Entry, HardState};
use wal::{Wal, WalOptions};

const PAYLOAD: usize = 256;

fn entries(first: u64, n: usize) -> Vec<Entry> {
    (0..n as u64)
        .map(|i| Entry {
            term: 1,
            index: first + i,
            data: vec![0x5a; PAYLOAD].into(),
            ..Default::default()
        })
        .collect()
}

fn bench_save(c: &mut Criterion, group: &str, fsync: bool) {
    let mut g = c.benchmark_group(group);
    if fsync {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
    }
    for batch in [1usize, 16, 128] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let dir = tempfile::tempdir().expect("temp dir");
            let opts = WalOptions {
                // Small segments so purging keeps the disk footprint bounded.
                segment_size: 4 << 20,
                unsafe_no_fsync: !fsync,
                max_wals: 2,
            };
            let mut w = Wal::create(&dir.path().join("wal"), b"bench", opts).expect("create wal");
            let mut next = 1u64;
            let mut until_release = 1024u32;
            b.iter(|| {
                let es = entries(next, batch);
                next += batch as u64;
                let hs = HardState {
                    term: 1,
                    vote: 1,
                    commit: next - 1,
                    ..Default::default()
                };
                w.save(black_box(&hs), black_box(&es)).expect("save");
                until_release -= 1;
                if until_release == 0 {
                    until_release = 1024;
                    w.release_to(next - 1).expect("release");
                }
            });
        });
    }
    g.finish();
}

fn wal_save_fsync(c: &mut Criterion) {
    bench_save(c, "wal_save_fsync", true);
}

fn wal_save_no_fsync(c: &mut Criterion) {
    bench_save(c, "wal_save_no_fsync", false);
}

criterion_group!(benches, wal_save_fsync, wal_save_no_fsync);
criterion_main!(benches);
