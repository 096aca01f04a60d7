//! Snapshot files (`member/snap/%016x-%016x.snap`, term-index): save, load the newest valid
//! one (renaming damaged ones to `.broken`), and purge old ones (etcd `snap/snapshotter.go`).

use std::fs;
use std::path::{Path, PathBuf};

use proto::walpb::SnapFile;
use proto::Message as _;
use protobuf::Message as _;
use raft_proto::eraftpb::Snapshot;

use crate::error::{Error, Result};
use crate::fileutil;
use crate::wal::WalSnapshot;

/// etcd's default `--max-snapshots`.
pub const DEFAULT_MAX_SNAPSHOTS: usize = 5;

const SNAP_SUFFIX: &str = ".snap";

/// `%016x-%016x.snap` for a snapshot's term and index.
pub fn snap_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}{SNAP_SUFFIX}")
}

/// Reads and verifies one `.snap` file: a `SnapFile{crc, data}` whose `data` is a marshalled
/// raft `Snapshot` and `crc = crc32c(data)` (etcd `snap.Read`).
pub fn read_snap_file(path: &Path) -> Result<Snapshot> {
    let b = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    if b.is_empty() {
        return Err(Error::EmptySnapshot { path: path.to_owned() });
    }
    let sf = SnapFile::decode(b.as_slice()).map_err(|e| Error::SnapCorrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let data = sf.data.unwrap_or_default();
    if data.is_empty() || sf.crc == 0 {
        return Err(Error::EmptySnapshot { path: path.to_owned() });
    }
    let computed = crc32c::crc32c(&data);
    if computed != sf.crc {
        return Err(Error::SnapCrcMismatch {
            path: path.to_owned(),
            stored: sf.crc,
            computed,
        });
    }
    Snapshot::parse_from_bytes(&data).map_err(|e| Error::SnapCorrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Saves and loads raft snapshots in one directory (`member/snap`).
#[derive(Debug, Clone)]
pub struct Snapshotter {
    dir: PathBuf,
}

impl Snapshotter {
    /// A snapshotter over `dir`, created if missing.
    pub fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `snap` as `<term>-<index>.snap` (via a fsynced `.tmp` and a rename, then a
    /// directory fsync). An empty snapshot (index 0) is not written, as in etcd.
    pub fn save(&self, snap: &Snapshot) -> Result<()> {
        let md = snap.get_metadata();
        if md.index == 0 {
            return Ok(());
        }
        let data = snap.write_to_bytes().map_err(|e| Error::Encode {
            what: "Snapshot",
            reason: e.to_string(),
        })?;
        let body = SnapFile {
            crc: crc32c::crc32c(&data),
            data: Some(data),
        }
        .encode_to_vec();
        let path = self.dir.join(snap_name(md.term, md.index));
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let res =
            write_synced(&tmp, &body).and_then(|()| fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &tmp, e)));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res?;
        fileutil::fsync_dir(&self.dir)
    }

    /// The newest readable snapshot, or `None` if there is none.
    pub fn load(&self) -> Result<Option<Snapshot>> {
        self.load_matching(|_| true)
    }

    /// The newest readable snapshot whose term and index match one of `wal_snaps` (etcd
    /// `LoadNewestAvailable`; pass [`crate::valid_snapshot_entries`]), or `None`.
    pub fn load_newest_available(&self, wal_snaps: &[WalSnapshot]) -> Result<Option<Snapshot>> {
        self.load_matching(|s| {
            let md = s.get_metadata();
            wal_snaps.iter().rev().any(|w| w.term == md.term && w.index == md.index)
        })
    }

    /// Newest first; an unreadable file is renamed to `<name>.broken` and skipped.
    fn load_matching(&self, matches: impl Fn(&Snapshot) -> bool) -> Result<Option<Snapshot>> {
        for name in self.snap_names()?.into_iter().rev() {
            let path = self.dir.join(&name);
            match read_snap_file(&path) {
                Ok(s) if matches(&s) => return Ok(Some(s)),
                Ok(_) => {}
                Err(e) => {
                    let mut broken = path.as_os_str().to_owned();
                    broken.push(".broken");
                    let broken = PathBuf::from(broken);
                    tracing::warn!(path = %path.display(), error = %e, "failed to read a snap file; renaming to .broken");
                    if let Err(re) = fs::rename(&path, &broken) {
                        tracing::warn!(path = %path.display(), error = %re, "failed to rename a broken snap file");
                    }
                }
            }
        }
        Ok(None)
    }

    /// Removes the oldest `.snap` files while more than `max` remain; 0 keeps all.
    pub fn purge(&self, max: usize) -> Result<Vec<PathBuf>> {
        fileutil::purge_files(&self.dir, max, |n| n.ends_with(SNAP_SUFFIX))
    }

    /// `.snap` names, oldest first (names sort by term, then index).
    fn snap_names(&self) -> Result<Vec<String>> {
        Ok(fileutil::read_dir_names(&self.dir)?
            .into_iter()
            .filter(|n| n.ends_with(SNAP_SUFFIX))
            .collect())
    }
}

fn write_synced(path: &Path, body: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(body).map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_proto::eraftpb::{ConfState, SnapshotMetadata};

    fn snapshot(term: u64, index: u64, data: &[u8]) -> Snapshot {
        let mut md = SnapshotMetadata {
            term,
            index,
            ..Default::default()
        };
        md.set_conf_state(ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        });
        let mut s = Snapshot::default();
        s.set_metadata(md);
        s.data = data.to_vec().into();
        s
    }

    #[test]
    fn save_load_round_trip_and_file_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ss = Snapshotter::new(dir.path()).expect("new");
        assert!(ss.load().expect("load").is_none());
        let s = snapshot(2, 0x10, b"{\"v2\":1}");
        ss.save(&s).expect("save");
        let path = dir.path().join("0000000000000002-0000000000000010.snap");
        let raw = fs::read(&path).expect("read");
        let sf = SnapFile::decode(raw.as_slice()).expect("SnapFile");
        let data = sf.data.expect("data");
        assert_eq!(sf.crc, crc32c::crc32c(&data));
        assert_eq!(Snapshot::parse_from_bytes(&data).expect("parse"), s);
        // crc is field 1 (varint), data field 2: starts with 0x08.
        assert_eq!(raw[0], 0x08);
        assert_eq!(ss.load().expect("load"), Some(s));
        // Empty snapshots are not written.
        ss.save(&Snapshot::default()).expect("save empty");
        assert_eq!(fileutil::read_dir_names(dir.path()).expect("ls").len(), 1);
    }

    #[test]
    fn newest_valid_wins_and_corrupt_is_renamed_broken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ss = Snapshotter::new(dir.path()).expect("new");
        ss.save(&snapshot(1, 5, b"old")).expect("save");
        ss.save(&snapshot(1, 9, b"newer")).expect("save");
        ss.save(&snapshot(2, 12, b"newest")).expect("save");
        // Flip a byte in the newest file's data: CRC mismatch.
        let newest = dir.path().join(snap_name(2, 12));
        let mut raw = fs::read(&newest).expect("read");
        let n = raw.len();
        raw[n - 1] ^= 0xff;
        fs::write(&newest, raw).expect("write");
        // An empty file in between.
        fs::write(dir.path().join(snap_name(1, 10)), b"").expect("write");

        let got = ss.load().expect("load").expect("some snapshot");
        assert_eq!(got.get_metadata().index, 9);
        assert!(!newest.exists());
        assert!(dir.path().join(format!("{}.broken", snap_name(2, 12))).exists());
        assert!(dir.path().join(format!("{}.broken", snap_name(1, 10))).exists());
        let err = read_snap_file(&dir.path().join(format!("{}.broken", snap_name(2, 12)))).expect_err("corrupt");
        assert!(matches!(err, Error::SnapCrcMismatch { .. }), "{err}");
    }

    #[test]
    fn load_newest_available_matches_wal_markers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ss = Snapshotter::new(dir.path()).expect("new");
        ss.save(&snapshot(1, 5, b"a")).expect("save");
        ss.save(&snapshot(1, 9, b"b")).expect("save");
        ss.save(&snapshot(2, 12, b"c")).expect("save");
        let marker = |term, index| WalSnapshot {
            index,
            term,
            conf_state: None,
        };
        // The WAL never recorded 12 (crash between snap save and WAL marker): pick 9.
        let got = ss
            .load_newest_available(&[marker(0, 0), marker(1, 5), marker(1, 9)])
            .expect("load")
            .expect("some");
        assert_eq!(got.get_metadata().index, 9);
        // Same index, other term: no match.
        assert!(ss.load_newest_available(&[marker(3, 12)]).expect("load").is_none());
        // Nothing was renamed: non-matching snapshots are valid.
        assert!(dir.path().join(snap_name(2, 12)).exists());
    }

    #[test]
    fn purge_keeps_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ss = Snapshotter::new(dir.path()).expect("new");
        for i in 1..=7 {
            ss.save(&snapshot(1, i, b"x")).expect("save");
        }
        fs::write(dir.path().join("db"), b"bolt").expect("write db");
        let removed = ss.purge(DEFAULT_MAX_SNAPSHOTS).expect("purge");
        assert_eq!(removed.len(), 2);
        let names = ss.snap_names().expect("names");
        assert_eq!(names.first().map(String::as_str), Some(snap_name(1, 3).as_str()));
        assert_eq!(names.len(), 5);
        assert!(dir.path().join("db").exists());
    }
}
