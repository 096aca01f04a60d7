//! RocksDB behind the backend API: open with every column family, atomic write batches,
//! raw iterators, size figures, checkpoints and full compaction (defragment).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use rocksdb::{checkpoint::Checkpoint, ColumnFamilyDescriptor, DBRawIteratorWithThreadMode, Options, WriteOptions, DB};

use super::{BackendError, Cf, Result};

fn err(e: rocksdb::Error) -> BackendError {
    BackendError(e.into_string())
}

/// The open database.
pub struct Backend {
    db: DB,
    path: PathBuf,
    /// [`Backend::size`] as last measured, plus bytes written since (see
    /// [`Backend::approx_size`]), and when it was measured (µs since `opened`).
    sized: AtomicI64,
    sized_at_us: AtomicI64,
    opened: Instant,
}

/// How stale [`Backend::approx_size`] may get before it measures again.
const SIZE_REFRESH_US: i64 = 100_000;

/// An atomic group of writes across column families.
#[derive(Default)]
pub struct Batch {
    ops: Vec<(Cf, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((cf, key.into(), Some(value.into())));
    }

    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push((cf, key.into(), None));
    }

    /// Moves every write of `other` to the end of this batch.
    pub fn append(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

impl Backend {
    /// Opens (creating if needed) the database at `path` with all column families.
    pub fn open(path: &Path) -> Result<Backend> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_max_open_files(512);
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut o = Options::default();
            if matches!(cf, Cf::Key | Cf::Rev) {
                o.set_write_buffer_size(32 << 20);
            }
            ColumnFamilyDescriptor::new(cf.name(), o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(err)?;
        Ok(Backend {
            db,
            path: path.to_path_buf(),
            sized: AtomicI64::new(0),
            sized_at_us: AtomicI64::new(i64::MIN),
            opened: Instant::now(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn handle(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| BackendError(format!("missing column family {}", cf.name())))
    }

    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.handle(cf)?, key).map_err(err)
    }

    /// Writes the batch atomically. The RocksDB WAL is kept (not fsynced): a process crash
    /// loses nothing, and power loss is covered by the raft WAL replay above it.
    pub fn write(&self, batch: Batch) -> Result<()> {
        let mut wb = rocksdb::WriteBatch::default();
        let bytes: usize = batch
            .ops
            .iter()
            .map(|(_, k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        self.sized.fetch_add(bytes as i64, Ordering::Relaxed);
        for (cf, k, v) in batch.ops {
            let h = self.handle(cf)?;
            match v {
                Some(v) => wb.put_cf(h, k, v),
                None => wb.delete_cf(h, k),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        self.db.write_opt(wb, &wo).map_err(err)
    }

    /// A raw iterator over one column family (an implicit consistent snapshot).
    pub fn iter(&self, cf: Cf) -> Result<RawIter<'_>> {
        Ok(RawIter {
            inner: self.db.raw_iterator_cf(self.handle(cf)?),
        })
    }

    /// Writes every memtable out to SST files (before a clean stop: the next open then has
    /// no RocksDB WAL to replay, which with full memtables took seconds).
    pub fn flush_memtables(&self) -> Result<()> {
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        for cf in Cf::ALL {
            self.db.flush_cf_opt(self.handle(cf)?, &fo).map_err(err)?;
        }
        Ok(())
    }

    /// Makes every write so far durable (RocksDB WAL fsync).
    pub fn sync(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(err)
    }

    /// Bytes on disk plus memtables: etcd's `dbSize`.
    pub fn size(&self) -> i64 {
        let mut total: u64 = 0;
        for cf in Cf::ALL {
            if let Ok(h) = self.handle(cf) {
                for prop in ["rocksdb.total-sst-files-size", "rocksdb.size-all-mem-tables"] {
                    if let Ok(Some(v)) = self.db.property_int_value_cf(h, prop) {
                        total += v;
                    }
                }
            }
        }
        // etcd never reports 0 (etcdctl divides by it); an empty bbolt file is 20 KiB.
        (total.max(20 * 1024)) as i64
    }

    /// [`Backend::size`] for the per-write quota check without its cost (a dozen property
    /// reads): measured at most every 100 ms, plus the bytes written since.
    pub fn approx_size(&self) -> i64 {
        let now = self.opened.elapsed().as_micros() as i64;
        let at = self.sized_at_us.load(Ordering::Relaxed);
        if now.saturating_sub(at) >= SIZE_REFRESH_US
            && self
                .sized_at_us
                .compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sized.store(self.size(), Ordering::Relaxed);
        }
        self.sized.load(Ordering::Relaxed)
    }

    /// Live data size estimate: etcd's `dbSizeInUse`.
    pub fn size_in_use(&self) -> i64 {
        let mut total: u64 = 0;
        for cf in Cf::ALL {
            if let Ok(h) = self.handle(cf) {
                if let Ok(Some(v)) = self.db.property_int_value_cf(h, "rocksdb.estimate-live-data-size") {
                    total += v;
                }
                if let Ok(Some(v)) = self.db.property_int_value_cf(h, "rocksdb.size-all-mem-tables") {
                    total += v;
                }
            }
        }
        (total as i64).min(self.size()).max(1)
    }

    /// Writes a consistent copy of the database to `dir` (hard links where possible).
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let cp = Checkpoint::new(&self.db).map_err(err)?;
        cp.create_checkpoint(dir).map_err(err)
    }

    /// Compacts every column family fully: etcd's Defragment.
    pub fn defragment(&self) -> Result<()> {
        for cf in Cf::ALL {
            let h = self.handle(cf)?;
            self.db.compact_range_cf::<&[u8], &[u8]>(h, None, None);
        }
        Ok(())
    }
}

/// A positioned cursor over one column family.
pub struct RawIter<'a> {
    inner: DBRawIteratorWithThreadMode<'a, DB>,
}

impl RawIter<'_> {
    pub fn seek(&mut self, key: &[u8]) {
        self.inner.seek(key);
    }
    pub fn seek_to_first(&mut self) {
        self.inner.seek_to_first();
    }
    pub fn seek_for_prev(&mut self, key: &[u8]) {
        self.inner.seek_for_prev(key);
    }
    pub fn next(&mut self) {
        self.inner.next();
    }
    pub fn prev(&mut self) {
        self.inner.prev();
    }
    pub fn valid(&self) -> bool {
        self.inner.valid()
    }
    pub fn key(&self) -> Option<&[u8]> {
        self.inner.key()
    }
    pub fn value(&self) -> Option<&[u8]> {
        self.inner.value()
    }
    /// The iterator's error, if it stopped on one rather than at the end.
    pub fn status(&self) -> Result<()> {
        self.inner.status().map_err(err)
    }
}
