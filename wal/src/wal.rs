//! The write-ahead log: create, open-and-replay (with torn-tail repair), append with group
//! fsync, segment cuts, and releasing old segments.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proto::walpb;
use proto::Message as _;
use protobuf::Message as _;
use raft_proto::eraftpb::{ConfState, Entry, HardState, SnapshotMetadata};

use crate::error::{Error, Result};
use crate::fileutil::{self, parse_wal_name, wal_name};
use crate::pipeline::FilePipeline;
use crate::record::{encode_record, Decoded, RecordType, SegmentDecoder};

/// etcd's `SegmentSizeBytes`: 64 MB (decimal).
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1000 * 1000;

/// etcd's default `--max-wals`.
pub const DEFAULT_MAX_WALS: usize = 5;

/// An fsync longer than this is logged as slow (etcd `warnSyncDuration`).
const WARN_SYNC_DURATION: Duration = Duration::from_secs(1);

/// Called with the duration of every WAL fsync (for `etcd_disk_wal_fsync_duration_seconds`).
pub type FsyncObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// Tunables for [`Wal::create`] and [`Wal::open`].
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Preallocated segment size; a cut happens once a save leaves the tail at or past it.
    /// Default [`SEGMENT_SIZE_BYTES`]; tests use small values.
    pub segment_size: u64,
    /// Skip every data fsync (etcd `--unsafe-no-fsync`). Crash safety is lost.
    pub unsafe_no_fsync: bool,
    /// How many `.wal` files [`Wal::release_to`] keeps (etcd `--max-wals`); 0 keeps all.
    pub max_wals: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_size: SEGMENT_SIZE_BYTES,
            unsafe_no_fsync: false,
            max_wals: DEFAULT_MAX_WALS,
        }
    }
}

/// A snapshot marker in the WAL (`walpb.Snapshot`): the raft index/term a snapshot was taken at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalSnapshot {
    /// Snapshot index.
    pub index: u64,
    /// Snapshot term.
    pub term: u64,
    /// Membership at the snapshot; required for every marker but the initial `{0, 0}`.
    pub conf_state: Option<ConfState>,
}

impl From<&SnapshotMetadata> for WalSnapshot {
    /// The marker for a raft snapshot (`Snapshot::get_metadata()`).
    fn from(md: &SnapshotMetadata) -> Self {
        Self {
            index: md.index,
            term: md.term,
            conf_state: Some(md.get_conf_state().clone()),
        }
    }
}

impl WalSnapshot {
    fn to_pb(&self) -> Result<walpb::Snapshot> {
        let conf_state = match &self.conf_state {
            Some(cs) => Some(pb_bytes(cs, "ConfState")?),
            None => None,
        };
        Ok(walpb::Snapshot {
            index: self.index,
            term: self.term,
            conf_state,
        })
    }

    fn from_record(data: &[u8], path: &Path, offset: u64) -> Result<Self> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| Error::Corrupt {
            path: path.to_owned(),
            offset,
            reason: format!("undecodable {what}: {e}"),
        };
        let pb = walpb::Snapshot::decode(data).map_err(|e| corrupt("walpb.Snapshot", &e))?;
        let conf_state = match pb.conf_state {
            Some(b) => Some(ConfState::parse_from_bytes(&b).map_err(|e| corrupt("ConfState", &e))?),
            None => None,
        };
        Ok(Self {
            index: pb.index,
            term: pb.term,
            conf_state,
        })
    }
}

/// What [`Wal::open`] read back.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The metadata given to [`Wal::create`].
    pub metadata: Vec<u8>,
    /// The last `HardState` saved (all zero if none).
    pub hard_state: HardState,
    /// Entries after the snapshot index, later same-index entries superseding earlier ones.
    /// Entries past `hard_state.commit` may still be overwritten by raft.
    pub entries: Vec<Entry>,
}

/// One locked segment file.
struct Segment {
    path: PathBuf,
    seq: u64,
    index: u64,
    /// Open read-write and `flock`ed for as long as the segment is held.
    file: File,
}

/// The write-ahead log in one directory. See the crate docs for the format.
///
/// Append-only: [`save`](Wal::save) and [`save_snapshot`](Wal::save_snapshot) add records at
/// the tail of the newest segment. Not internally synchronised; the raft loop owns it.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    metadata: Vec<u8>,
    /// Last `HardState` written (compared for MustSync, repeated at the head of new segments).
    state: HardState,
    /// Index of the last entry written (or of a newer snapshot marker); names the next segment.
    enti: u64,
    /// Running CRC-32C over every record's data.
    crc: u32,
    /// Locked segments, oldest first; the last is the tail being appended to. Never empty.
    segments: Vec<Segment>,
    /// Write offset in the tail.
    off: u64,
    /// Frames encoded but not yet written.
    buf: Vec<u8>,
    pipeline: Option<FilePipeline>,
    observer: Option<FsyncObserver>,
    /// Set when a write failed part-way: the tail no longer matches `off`/`crc`.
    poisoned: bool,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("tail", &self.tail().path)
            .field("offset", &self.off)
            .field("last_index", &self.enti)
            .finish_non_exhaustive()
    }
}

fn exists(dir: &Path) -> bool {
    fileutil::read_wal_names(dir).map(|n| !n.is_empty()).unwrap_or(false)
}

impl Wal {
    /// True if `dir` holds any `.wal` segment (etcd `wal.Exist`).
    pub fn exists(dir: &Path) -> bool {
        exists(dir)
    }

    /// Creates a new WAL in `dir` (which must not hold `.wal` files): builds it in `<dir>.tmp`
    /// with a preallocated first segment holding `Crc{0}`, `Metadata`, `Snapshot{0, 0}`, fsyncs,
    /// then renames the directory into place and fsyncs its parent.
    pub fn create(dir: &Path, metadata: &[u8], opts: WalOptions) -> Result<Wal> {
        if exists(dir) {
            return Err(Error::Exists { dir: dir.to_owned() });
        }
        let mut tmp = dir.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        let res = Self::create_in(dir, &tmp, metadata, opts);
        if res.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        res
    }

    fn create_in(dir: &Path, tmp: &Path, metadata: &[u8], opts: WalOptions) -> Result<Wal> {
        fs::create_dir_all(tmp).map_err(|e| Error::io("create dir", tmp, e))?;
        let name = wal_name(0, 0);
        let path = tmp.join(&name);
        let file = fileutil::open_locked(&path, true, true)?;
        fileutil::preallocate(&file, &path, opts.segment_size)?;
        let mut w = Wal {
            dir: dir.to_owned(),
            opts,
            metadata: metadata.to_vec(),
            state: HardState::default(),
            enti: 0,
            crc: 0,
            segments: vec![Segment {
                path,
                seq: 0,
                index: 0,
                file,
            }],
            off: 0,
            buf: Vec::new(),
            pipeline: None,
            observer: None,
            poisoned: false,
        };
        encode_record(&mut w.buf, &mut w.crc, RecordType::Crc, None);
        encode_record(&mut w.buf, &mut w.crc, RecordType::Metadata, Some(w.metadata.clone()));
        w.save_snapshot(&WalSnapshot::default())?;
        fileutil::fsync_dir(tmp)?;

        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| Error::io("remove", dir, e))?;
        }
        fs::rename(tmp, dir).map_err(|e| Error::io("rename", tmp, e))?;
        w.observe_fsync(|| fileutil::fsync_dir(&fileutil::parent_dir(dir)))?;
        w.segments[0].path = dir.join(name);
        w.pipeline = Some(FilePipeline::new(dir, w.opts.segment_size)?);
        Ok(w)
    }

    /// Opens the WAL in `dir` for appending, replaying it from the segment holding `snap`.
    ///
    /// Locks every segment from there on, reads all records (checking the CRC chain, metadata
    /// consistency and the snapshot marker), repairs a torn tail in the last segment by
    /// zeroing from the last whole record (a copy of the damaged file is kept as
    /// `<segment>.broken`), and positions the writer after the last whole record.
    ///
    /// Damage anywhere else is an error naming the file and offset. `snap` must be a marker
    /// previously saved ([`WalSnapshot::default`] for a WAL never snapshotted), else
    /// [`Error::SnapshotNotFound`] / [`Error::SnapshotMismatch`].
    pub fn open(dir: &Path, snap: &WalSnapshot, opts: WalOptions) -> Result<(Wal, Replay)> {
        let names = fileutil::read_wal_names(dir)?;
        if names.is_empty() {
            return Err(Error::FileNotFound { dir: dir.to_owned() });
        }
        let start = search_index(&names, snap.index).ok_or_else(|| Error::NoFileForIndex {
            dir: dir.to_owned(),
            index: snap.index,
        })?;
        check_sequence(dir, &names[start..])?;

        let mut segments = Vec::with_capacity(names.len() - start);
        for name in &names[start..] {
            let path = dir.join(name);
            let (seq, index) = parse_wal_name(name).unwrap_or_default();
            let file = fileutil::open_locked(&path, false, false)?;
            segments.push(Segment { path, seq, index, file });
        }

        let mut rs = ReplayState::new(snap);
        let mut readers = Vec::with_capacity(segments.len());
        for s in &segments {
            let f = s.file.try_clone().map_err(|e| Error::io("dup", &s.path, e))?;
            readers.push((s.path.clone(), f));
        }
        let walked = walk(readers, |path, offset, rec, crc| rs.apply(path, offset, rec, crc))?;

        let Some(tail) = segments.last() else {
            return Err(Error::FileNotFound { dir: dir.to_owned() });
        };
        if let Some((offset, reason)) = &walked.torn {
            let mut broken = tail.path.as_os_str().to_owned();
            broken.push(".broken");
            tracing::warn!(
                path = %tail.path.display(),
                offset,
                reason = %reason,
                backup = %PathBuf::from(&broken).display(),
                "repairing torn WAL tail"
            );
            fs::copy(&tail.path, &broken).map_err(|e| Error::io("copy", &tail.path, e))?;
        }
        // etcd ZeroToEnd: a zero length word may be followed by fragments of a torn write;
        // clear them so new records cannot be confused with them.
        fileutil::zero_to_end(&tail.file, &tail.path, walked.tail_off)?;
        tail.file.sync_all().map_err(|e| Error::io("fsync", &tail.path, e))?;

        if !rs.matched {
            return Err(Error::SnapshotNotFound {
                index: snap.index,
                term: snap.term,
            });
        }

        let replay = Replay {
            metadata: rs.metadata.unwrap_or_default(),
            hard_state: rs.state,
            entries: rs.entries,
        };
        let mut w = Wal {
            dir: dir.to_owned(),
            metadata: replay.metadata.clone(),
            state: replay.hard_state.clone(),
            enti: rs.enti,
            crc: walked.crc,
            segments,
            off: walked.tail_off,
            buf: Vec::new(),
            pipeline: Some(FilePipeline::new(dir, opts.segment_size)?),
            opts,
            observer: None,
            poisoned: false,
        };
        if w.off == 0 {
            // The whole tail was torn away (possible with unsafe_no_fsync): start it again
            // with a header so the CRC chain stays readable once older segments are purged.
            w.write_header()?;
            w.sync()?;
        }
        Ok((w, replay))
    }

    /// Installs the hook called with every fsync's duration.
    pub fn set_fsync_observer(&mut self, observer: FsyncObserver) {
        self.observer = Some(observer);
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Index of the last entry saved (or of a newer snapshot marker).
    pub fn last_index(&self) -> u64 {
        self.enti
    }

    /// Appends `entries` then `hs` (skipped if empty) in one write, and fsyncs once if raft's
    /// MustSync says so (entries present, or term/vote changed). Cuts a new segment when the
    /// tail reaches the segment size. Call once per raft `Ready` batch (group commit).
    pub fn save(&mut self, hs: &HardState, entries: &[Entry]) -> Result<()> {
        self.check_poisoned()?;
        if is_empty_hard_state(hs) && entries.is_empty() {
            return Ok(());
        }
        let must_sync = must_sync(hs, &self.state, entries.len());
        self.poison_on_err(|w| {
            for e in entries {
                let data = pb_bytes(e, "Entry")?;
                encode_record(&mut w.buf, &mut w.crc, RecordType::Entry, Some(data));
                w.enti = e.index;
            }
            if !is_empty_hard_state(hs) {
                let data = pb_bytes(hs, "HardState")?;
                encode_record(&mut w.buf, &mut w.crc, RecordType::State, Some(data));
                w.state = hs.clone();
            }
            w.flush()?;
            if w.off < w.opts.segment_size {
                if must_sync {
                    w.sync_tail()?;
                }
                return Ok(());
            }
            w.cut()
        })
    }

    /// Appends a snapshot marker and fsyncs. Every marker but the initial `{0, 0}` needs a
    /// `conf_state` (etcd >= 3.5).
    pub fn save_snapshot(&mut self, snap: &WalSnapshot) -> Result<()> {
        self.check_poisoned()?;
        if snap.index > 0 && snap.conf_state.is_none() {
            return Err(Error::SnapshotMissingConfState { index: snap.index });
        }
        let mut data = Vec::new();
        snap.to_pb()?.encode_raw(&mut data);
        encode_record(&mut self.buf, &mut self.crc, RecordType::Snapshot, Some(data));
        if self.enti < snap.index {
            self.enti = snap.index;
        }
        self.poison_on_err(|w| {
            w.flush()?;
            w.sync_tail()
        })
    }

    /// fsyncs the tail segment (no-op with `unsafe_no_fsync`).
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned()?;
        self.poison_on_err(|w| {
            w.flush()?;
            w.sync_tail()
        })
    }

    /// Unlocks segments that only hold entries before `index` (etcd `ReleaseLockTo`: of the
    /// segments starting below `index`, all but the newest are released), then removes the
    /// oldest unlocked `.wal` files while more than `max_wals` remain (etcd's purge loop, run
    /// once). Call with the index of a snapshot that is durably saved. Returns removed paths.
    pub fn release_to(&mut self, index: u64) -> Result<Vec<PathBuf>> {
        let keep_from = match self.segments.iter().position(|s| s.index >= index) {
            Some(i) => i.saturating_sub(1),
            None => self.segments.len() - 1,
        };
        if keep_from > 0 {
            for s in self.segments.drain(..keep_from) {
                tracing::debug!(path = %s.path.display(), "released WAL segment lock");
            }
        }
        fileutil::purge_files(&self.dir, self.opts.max_wals, |n| parse_wal_name(n).is_some())
    }

    /// Flushes and fsyncs, then closes the WAL (etcd `Close`). Dropping without `close` skips
    /// the final fsync.
    pub fn close(mut self) -> Result<()> {
        self.sync()
    }

    fn tail(&self) -> &Segment {
        // `segments` is never empty: create/open put one in, release_to keeps the last.
        &self.segments[self.segments.len() - 1]
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    fn poison_on_err<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let r = f(self);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Writes the pending frames at the tail offset.
    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let tail = self.tail();
        tail.file
            .write_all_at(&self.buf, self.off)
            .map_err(|e| Error::io("write", &tail.path, e))?;
        self.off += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn observe_fsync(&self, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let start = Instant::now();
        f()?;
        let took = start.elapsed();
        if took > WARN_SYNC_DURATION {
            tracing::warn!(?took, dir = %self.dir.display(), "slow WAL fsync");
        }
        if let Some(obs) = &self.observer {
            obs(took);
        }
        Ok(())
    }

    /// fdatasync of the tail (etcd `sync`), timed for the observer.
    fn sync_tail(&self) -> Result<()> {
        if self.opts.unsafe_no_fsync {
            return Ok(());
        }
        let tail = self.tail();
        self.observe_fsync(|| tail.file.sync_data().map_err(|e| Error::io("fdatasync", &tail.path, e)))
    }

    /// Queues a segment header: `Crc{running crc}`, `Metadata`, and the last `HardState` if
    /// there is one.
    fn write_header(&mut self) -> Result<()> {
        encode_record(&mut self.buf, &mut self.crc, RecordType::Crc, None);
        encode_record(
            &mut self.buf,
            &mut self.crc,
            RecordType::Metadata,
            Some(self.metadata.clone()),
        );
        if !is_empty_hard_state(&self.state) {
            let data = pb_bytes(&self.state, "HardState")?;
            encode_record(&mut self.buf, &mut self.crc, RecordType::State, Some(data));
        }
        Ok(())
    }

    /// Closes the tail at its current size and continues in a fresh segment named
    /// `seq+1`-`last_index+1` that starts with `Crc`, `Metadata` and the last `HardState`.
    fn cut(&mut self) -> Result<()> {
        let tail = self.tail();
        tail.file
            .set_len(self.off)
            .map_err(|e| Error::io("truncate", &tail.path, e))?;
        self.sync_tail()?;

        let seq = self.tail().seq + 1;
        let index = self.enti + 1;
        let final_path = self.dir.join(wal_name(seq, index));
        let pipeline = self.pipeline.as_mut().ok_or_else(|| Error::Pipeline {
            reason: "not started".into(),
        })?;
        let (tmp_path, file) = pipeline.open()?;
        self.segments.push(Segment {
            path: tmp_path.clone(),
            seq,
            index,
            file,
        });
        self.off = 0;
        self.write_header()?;
        self.flush()?;
        self.sync_tail()?;

        fs::rename(&tmp_path, &final_path).map_err(|e| Error::io("rename", &tmp_path, e))?;
        self.observe_fsync(|| fileutil::fsync_dir(&self.dir))?;
        let n = self.segments.len();
        self.segments[n - 1].path = final_path;
        tracing::info!(path = %self.tail().path.display(), "created a new WAL segment");
        Ok(())
    }
}

/// All snapshot markers in the WAL at `dir` whose index is at or below the last saved
/// commit index (etcd `ValidSnapshotEntries`); read-only and lock-free, so it can run before
/// [`Wal::open`]. Pass the result to [`crate::Snapshotter::load_newest_available`].
pub fn valid_snapshot_entries(dir: &Path) -> Result<Vec<WalSnapshot>> {
    let names = fileutil::read_wal_names(dir)?;
    if names.is_empty() {
        return Err(Error::FileNotFound { dir: dir.to_owned() });
    }
    let mut readers = Vec::with_capacity(names.len());
    for name in &names {
        let path = dir.join(name);
        let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        readers.push((path, f));
    }
    let mut snaps = Vec::new();
    let mut state = HardState::default();
    walk(readers, |path, offset, rec, _| {
        match RecordType::from_i64(rec.r#type) {
            Some(RecordType::Snapshot) => snaps.push(WalSnapshot::from_record(
                rec.data.as_deref().unwrap_or_default(),
                path,
                offset,
            )?),
            Some(RecordType::State) => {
                state = decode_pb(rec.data.as_deref().unwrap_or_default(), path, offset, "HardState")?
            }
            _ => {}
        }
        Ok(())
    })?;
    snaps.retain(|s| s.index <= state.commit);
    Ok(snaps)
}

/// Result of reading a run of segments.
struct Walked {
    /// Running CRC after the last whole record.
    crc: u32,
    /// Offset after the last whole record in the last segment.
    tail_off: u64,
    /// Where and why the last segment was torn, if it was.
    torn: Option<(u64, String)>,
}

/// Decodes every record of `segs` in order (only the last may have a torn tail), handling the
/// CRC chain: a `Crc` record must match the running CRC unless that is 0 (a fresh decoder),
/// then reseeds it. Other records go to `on_record(path, offset, record, running_crc)`.
fn walk(
    segs: Vec<(PathBuf, File)>,
    mut on_record: impl FnMut(&Path, u64, walpb::Record, u32) -> Result<()>,
) -> Result<Walked> {
    let mut crc = 0u32;
    let n = segs.len();
    let mut out = Walked {
        crc: 0,
        tail_off: 0,
        torn: None,
    };
    for (i, (path, file)) in segs.into_iter().enumerate() {
        let last = i + 1 == n;
        let mut dec = SegmentDecoder::new(&path, file, last)?;
        loop {
            match dec.next(&mut crc)? {
                Decoded::Record { rec, offset } => {
                    if rec.r#type == RecordType::Crc as i64 {
                        if crc != 0 && rec.crc != crc {
                            return Err(Error::CrcMismatch {
                                path: path.clone(),
                                offset,
                                stored: rec.crc,
                                computed: crc,
                            });
                        }
                        crc = rec.crc;
                    } else {
                        on_record(&path, offset, rec, crc)?;
                    }
                }
                Decoded::End => break,
                Decoded::Torn { offset, reason } => {
                    out.torn = Some((offset, reason));
                    break;
                }
            }
        }
        out.tail_off = dec.offset();
    }
    out.crc = crc;
    Ok(out)
}

/// etcd `ReadAll`'s state machine.
struct ReplayState {
    start: WalSnapshot,
    metadata: Option<Vec<u8>>,
    state: HardState,
    entries: Vec<Entry>,
    enti: u64,
    matched: bool,
}

impl ReplayState {
    fn new(start: &WalSnapshot) -> Self {
        Self {
            start: start.clone(),
            metadata: None,
            state: HardState::default(),
            entries: Vec::new(),
            enti: 0,
            matched: false,
        }
    }

    fn apply(&mut self, path: &Path, offset: u64, rec: walpb::Record, _crc: u32) -> Result<()> {
        let data = rec.data.unwrap_or_default();
        match RecordType::from_i64(rec.r#type) {
            Some(RecordType::Entry) => {
                let e: Entry = decode_pb(&data, path, offset, "Entry")?;
                if e.index > self.start.index {
                    let pos = e.index - self.start.index - 1;
                    if pos > self.entries.len() as u64 {
                        return Err(Error::EntryGap {
                            path: path.to_owned(),
                            offset,
                            snapshot_index: self.start.index,
                            entry_index: e.index,
                            have: self.entries.len(),
                        });
                    }
                    // A later entry at an index supersedes the earlier one and all after it.
                    self.enti = e.index;
                    self.entries.truncate(pos as usize);
                    self.entries.push(e);
                } else {
                    self.enti = e.index;
                }
            }
            Some(RecordType::State) => {
                self.state = decode_pb(&data, path, offset, "HardState")?;
            }
            Some(RecordType::Metadata) => {
                if let Some(m) = &self.metadata {
                    if *m != data {
                        return Err(Error::MetadataConflict {
                            path: path.to_owned(),
                            offset,
                        });
                    }
                }
                self.metadata = Some(data);
            }
            Some(RecordType::Snapshot) => {
                let s = WalSnapshot::from_record(&data, path, offset)?;
                if s.index == self.start.index {
                    if s.term != self.start.term {
                        return Err(Error::SnapshotMismatch {
                            path: path.to_owned(),
                            offset,
                            index: s.index,
                            want_term: self.start.term,
                            found_term: s.term,
                        });
                    }
                    self.matched = true;
                }
            }
            // Crc records are handled by `walk`.
            Some(RecordType::Crc) => {}
            None => {
                return Err(Error::UnexpectedRecordType {
                    path: path.to_owned(),
                    offset,
                    record_type: rec.r#type,
                })
            }
        }
        Ok(())
    }
}

/// Last index in sorted `names` whose segment starts at or before `index` (etcd `searchIndex`).
fn search_index(names: &[String], index: u64) -> Option<usize> {
    names
        .iter()
        .rposition(|n| parse_wal_name(n).is_some_and(|(_, start)| index >= start))
}

/// Sequence numbers must increase by one (etcd `isValidSeq`).
fn check_sequence(dir: &Path, names: &[String]) -> Result<()> {
    let mut last: Option<u64> = None;
    for name in names {
        let (seq, _) = parse_wal_name(name).unwrap_or_default();
        if let Some(prev) = last {
            if prev.checked_add(1) != Some(seq) {
                return Err(Error::BadSequence {
                    dir: dir.to_owned(),
                    name: name.clone(),
                });
            }
        }
        last = Some(seq);
    }
    Ok(())
}

/// raft `IsEmptyHardState`.
fn is_empty_hard_state(hs: &HardState) -> bool {
    hs.term == 0 && hs.vote == 0 && hs.commit == 0
}

/// raft `MustSync`: entries, or a changed term or vote, must reach disk before messages go out.
fn must_sync(hs: &HardState, prev: &HardState, n_entries: usize) -> bool {
    n_entries != 0 || hs.vote != prev.vote || hs.term != prev.term
}

fn pb_bytes<M: protobuf::Message>(m: &M, what: &'static str) -> Result<Vec<u8>> {
    m.write_to_bytes().map_err(|e| Error::Encode {
        what,
        reason: e.to_string(),
    })
}

fn decode_pb<M: protobuf::Message>(data: &[u8], path: &Path, offset: u64, what: &str) -> Result<M> {
    M::parse_from_bytes(data).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        offset,
        reason: format!("undecodable {what}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> WalOptions {
        WalOptions {
            segment_size: 8 * 1024,
            ..Default::default()
        }
    }

    fn entry(index: u64) -> Entry {
        Entry {
            term: 1,
            index,
            data: vec![1u8; 100].into(),
            ..Default::default()
        }
    }

    fn hs(commit: u64) -> HardState {
        HardState {
            term: 1,
            vote: 1,
            commit,
            ..Default::default()
        }
    }

    fn new_wal() -> (tempfile::TempDir, PathBuf, Wal) {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().join("wal");
        let w = Wal::create(&dir, b"meta", opts()).expect("create");
        (t, dir, w)
    }

    #[test]
    fn search_index_picks_last_segment_at_or_below() {
        let names: Vec<String> = [(0, 0), (1, 10), (2, 20)]
            .iter()
            .map(|(s, i)| wal_name(*s, *i))
            .collect();
        assert_eq!(search_index(&names, 0), Some(0));
        assert_eq!(search_index(&names, 9), Some(0));
        assert_eq!(search_index(&names, 10), Some(1));
        assert_eq!(search_index(&names, 99), Some(2));
        assert_eq!(search_index(&names[1..], 5), None);
    }

    #[test]
    fn marker_from_snapshot_metadata_round_trips() {
        let mut md = SnapshotMetadata {
            index: 7,
            term: 2,
            ..Default::default()
        };
        md.set_conf_state(ConfState {
            voters: vec![1, 2],
            learners: vec![3],
            ..Default::default()
        });
        let m = WalSnapshot::from(&md);
        assert_eq!((m.index, m.term), (7, 2));
        let mut data = Vec::new();
        m.to_pb().expect("pb").encode_raw(&mut data);
        let back = WalSnapshot::from_record(&data, Path::new("x"), 0).expect("decode");
        assert_eq!(back, m);
        assert_eq!(back.conf_state.map(|c| c.learners), Some(vec![3]));
    }

    #[test]
    fn must_sync_follows_raft() {
        assert!(must_sync(&hs(1), &hs(1), 1));
        assert!(!must_sync(&hs(2), &hs(1), 0));
        let mut other = hs(1);
        other.vote = 2;
        assert!(must_sync(&other, &hs(1), 0));
        other = hs(1);
        other.term = 2;
        assert!(must_sync(&other, &hs(1), 0));
    }

    #[test]
    fn metadata_conflict_between_segments_is_an_error() {
        let (_t, dir, mut w) = new_wal();
        w.save(&hs(1), &[entry(1)]).expect("save");
        w.metadata = b"other".to_vec();
        w.cut().expect("cut");
        w.save(&hs(2), &[entry(2)]).expect("save");
        drop(w);
        let err = Wal::open(&dir, &WalSnapshot::default(), opts()).expect_err("conflict");
        assert!(matches!(err, Error::MetadataConflict { .. }), "{err}");
        assert!(
            err.to_string().contains("0000000000000001-0000000000000002.wal"),
            "{err}"
        );
    }

    #[test]
    fn wrong_crc_record_at_segment_head_is_an_error() {
        let (_t, dir, mut w) = new_wal();
        w.save(&hs(1), &[entry(1)]).expect("save");
        w.crc ^= 1; // the next segment's Crc record will not continue the chain
        w.cut().expect("cut");
        w.save(&hs(2), &[entry(2)]).expect("save");
        drop(w);
        let err = Wal::open(&dir, &WalSnapshot::default(), opts()).expect_err("crc");
        assert!(matches!(err, Error::CrcMismatch { offset: 0, .. }), "{err}");
        assert!(
            err.to_string().contains("0000000000000001-0000000000000002.wal"),
            "{err}"
        );
    }

    #[test]
    fn unknown_record_type_is_an_error() {
        let (_t, dir, mut w) = new_wal();
        w.save(&hs(1), &[entry(1)]).expect("save");
        let off = w.off;
        // A well-formed frame with a valid CRC but type 9.
        let data = vec![1u8, 2, 3];
        let crc = crc32c::crc32c_append(w.crc, &data);
        let rec = walpb::Record {
            r#type: 9,
            crc,
            data: Some(data),
        };
        let body = rec.encode_to_vec();
        let (word, pad) = crate::record::encode_frame_size(body.len() as u64);
        w.buf.extend_from_slice(&word.to_le_bytes());
        w.buf.extend_from_slice(&body);
        w.buf.resize(w.buf.len() + pad as usize, 0);
        w.sync().expect("sync");
        drop(w);
        let err = Wal::open(&dir, &WalSnapshot::default(), opts()).expect_err("type");
        assert!(
            matches!(err, Error::UnexpectedRecordType { record_type: 9, offset, .. } if offset == off),
            "{err}"
        );
    }

    #[test]
    fn junk_after_zero_word_in_last_segment_is_cleared() {
        let (_t, dir, mut w) = new_wal();
        w.save(&hs(1), &[entry(1)]).expect("save");
        let end = w.off;
        let path = w.tail().path.clone();
        drop(w);
        // Fragments of a torn write landed past a still-zero length word.
        let f = fs::OpenOptions::new().write(true).open(&path).expect("open");
        f.write_all_at(&[0xabu8; 64], end + 512).expect("junk");
        drop(f);
        let (w, r) = Wal::open(&dir, &WalSnapshot::default(), opts()).expect("open");
        assert_eq!(r.entries.len(), 1);
        assert_eq!(w.off, end);
        let raw = fs::read(&path).expect("read");
        assert_eq!(raw.len() as u64, opts().segment_size, "size kept");
        assert!(raw[end as usize..].iter().all(|b| *b == 0), "tail zeroed");
    }

    #[test]
    fn valid_snapshot_entries_tolerates_a_torn_tail() {
        let (_t, dir, mut w) = new_wal();
        w.save(&hs(3), &[entry(1), entry(2), entry(3)]).expect("save");
        let cs = ConfState {
            voters: vec![1],
            ..Default::default()
        };
        w.save_snapshot(&WalSnapshot {
            index: 2,
            term: 1,
            conf_state: Some(cs),
        })
        .expect("snap");
        let end = w.off;
        let path = w.tail().path.clone();
        drop(w);
        let f = fs::OpenOptions::new().write(true).open(&path).expect("open");
        f.write_all_at(&999_999u64.to_le_bytes(), end).expect("torn length");
        drop(f);
        let snaps = valid_snapshot_entries(&dir).expect("valid");
        assert_eq!(snaps.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 2]);
    }
}
