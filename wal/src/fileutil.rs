//! File helpers shared by the WAL and the snapshotter: segment names, flock, fallocate,
//! directory fsync and etcd's purge-oldest-unlocked-file loop.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `%016x-%016x.wal` for a segment's sequence number and first raft index.
pub fn wal_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// Parses `%016x-%016x.wal` into `(seq, index)`; `None` for any other name.
pub fn parse_wal_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, index) = stem.split_once('-')?;
    if seq.len() != 16 || index.len() != 16 {
        return None;
    }
    Some((u64::from_str_radix(seq, 16).ok()?, u64::from_str_radix(index, 16).ok()?))
}

/// Names in `dir` (files only, not recursive), sorted.
pub fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for ent in fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))? {
        let ent = ent.map_err(|e| Error::io("read dir", dir, e))?;
        if let Some(name) = ent.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Sorted WAL segment names in `dir`; other files are ignored (`.tmp` silently, others with a
/// warning, as etcd does).
pub fn read_wal_names(dir: &Path) -> Result<Vec<String>> {
    let names: Vec<String> = read_dir_names(dir)?
        .into_iter()
        .filter(|n| {
            let ok = parse_wal_name(n).is_some();
            if !ok && !n.ends_with(".tmp") && !n.ends_with(".broken") {
                tracing::warn!(dir = %dir.display(), name = %n, "ignored file in WAL directory");
            }
            ok
        })
        .collect();
    Ok(names)
}

/// Takes a non-blocking exclusive `flock` on `file`.
pub fn try_lock(file: &File, path: &Path) -> Result<()> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(Error::Locked { path: path.to_owned() }),
        Err(e) => Err(Error::io("flock", path, e.into())),
    }
}

/// Opens `path` read-write (creating it if `create`, truncating if `truncate`) and locks it.
pub fn open_locked(path: &Path, create: bool, truncate: bool) -> Result<File> {
    let mut oo = OpenOptions::new();
    oo.read(true).write(true);
    if create {
        oo.create(true).truncate(truncate);
        set_private_mode(&mut oo);
    }
    let f = oo.open(path).map_err(|e| Error::io("open", path, e))?;
    try_lock(&f, path)?;
    Ok(f)
}

#[cfg(unix)]
fn set_private_mode(oo: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    oo.mode(0o600);
}

#[cfg(not(unix))]
fn set_private_mode(_: &mut OpenOptions) {}

/// Extends `file` to `size` bytes with real blocks (etcd `fileutil.Preallocate(f, size, true)`),
/// falling back to `set_len` where the filesystem has no `fallocate`.
pub fn preallocate(file: &File, path: &Path, size: u64) -> Result<()> {
    let cur = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if size <= cur {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, size) {
            Ok(()) => return Ok(()),
            Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS || e == Errno::INVAL => {}
            Err(e) => return Err(Error::io("fallocate", path, e.into())),
        }
    }
    file.set_len(size).map_err(|e| Error::io("extend (set_len)", path, e))
}

/// Zeroes `file` from `off` to its current end, keeping its size (etcd `fileutil.ZeroToEnd`):
/// truncate to `off`, then preallocate back.
pub fn zero_to_end(file: &File, path: &Path, off: u64) -> Result<()> {
    let size = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    file.set_len(off).map_err(|e| Error::io("truncate", path, e))?;
    preallocate(file, path, size)
}

/// fsyncs a directory so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open dir", dir, e))?;
    d.sync_all().map_err(|e| Error::io("fsync dir", dir, e))
}

/// Parent directory of `p`, `.` for a bare name.
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// etcd `fileutil.PurgeFile`, run once: while more than `max` files pass `select`, remove the
/// oldest (by sorted name) unless it is locked, in which case stop. `max == 0` keeps all.
/// Returns the removed paths.
pub fn purge_files(dir: &Path, max: usize, select: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if max == 0 {
        return Ok(removed);
    }
    let names: Vec<String> = read_dir_names(dir)?.into_iter().filter(|n| select(n)).collect();
    let excess = names.len().saturating_sub(max);
    for name in names.into_iter().take(excess) {
        let path = dir.join(&name);
        let f = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        match try_lock(&f, &path) {
            Ok(()) => {}
            Err(Error::Locked { .. }) => break,
            Err(e) => return Err(e),
        }
        fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        tracing::info!(path = %path.display(), "purged file");
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_names_round_trip() {
        let n = wal_name(1, 0x2a);
        assert_eq!(n, "0000000000000001-000000000000002a.wal");
        assert_eq!(parse_wal_name(&n), Some((1, 0x2a)));
        assert_eq!(parse_wal_name("0.tmp"), None);
        assert_eq!(parse_wal_name("1-2.wal"), None);
        assert_eq!(parse_wal_name(&format!("{n}.broken")), None);
        assert_eq!(parse_wal_name("000000000000000g-0000000000000000.wal"), None);
    }

    #[test]
    fn purge_keeps_max_and_stops_at_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..6u64 {
            fs::write(dir.path().join(wal_name(i, i * 10)), b"x").expect("write");
        }
        fs::write(dir.path().join("0.tmp"), b"x").expect("write");
        // Lock the third file: purge must stop there even though 6 > 2.
        let _lock = open_locked(&dir.path().join(wal_name(2, 20)), false, false).expect("lock");
        let removed = purge_files(dir.path(), 2, |n| parse_wal_name(n).is_some()).expect("purge");
        assert_eq!(removed.len(), 2);
        let left = read_wal_names(dir.path()).expect("names");
        assert_eq!(left[0], wal_name(2, 20));
        assert_eq!(left.len(), 4);
        assert!(dir.path().join("0.tmp").exists());
    }

    #[test]
    fn lock_is_exclusive_within_a_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let _a = open_locked(&p, true, false).expect("first lock");
        let err = open_locked(&p, true, false).expect_err("second lock must fail");
        assert!(matches!(err, Error::Locked { .. }), "{err}");
    }

    #[test]
    fn preallocate_extends_and_zero_to_end_keeps_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let f = open_locked(&p, true, true).expect("open");
        preallocate(&f, &p, 4096).expect("prealloc");
        assert_eq!(f.metadata().expect("stat").len(), 4096);
        use std::os::unix::fs::FileExt;
        f.write_all_at(&[7u8; 100], 0).expect("write");
        zero_to_end(&f, &p, 8).expect("zero");
        let data = fs::read(&p).expect("read");
        assert_eq!(data.len(), 4096);
        assert_eq!(&data[..8], &[7u8; 8]);
        assert!(data[8..].iter().all(|b| *b == 0));
    }
}
