//! Black-box tests of the WAL through its public API and its files on disk: round trips,
//! segment cuts, the CRC chain, crash repair, corruption errors, snapshots markers, purge.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proto::walpb::Record;
use proto::Message as _;
use protobuf::Message as _;
use raft_proto::eraftpb::{ConfState, Entry, HardState};
use wal::{Error, RecordType, Wal, WalOptions, WalSnapshot};

const SMALL: u64 = 16 * 1024;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        ..Default::default()
    }
}

fn entry(term: u64, index: u64, data: &[u8]) -> Entry {
    Entry {
        term,
        index,
        data: data.to_vec().into(),
        ..Default::default()
    }
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..Default::default()
    }
}

fn conf_state() -> ConfState {
    ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    }
}

fn marker(index: u64, term: u64) -> WalSnapshot {
    WalSnapshot {
        index,
        term,
        conf_state: Some(conf_state()),
    }
}

fn new_wal(o: WalOptions) -> (tempfile::TempDir, PathBuf, Wal) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("member").join("wal");
    fs::create_dir_all(tmp.path().join("member")).expect("mkdir");
    let w = Wal::create(&dir, b"node=1,cluster=7", o).expect("create");
    (tmp, dir, w)
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// Parses frames of a segment until a zero length word or EOF: (offset, record).
fn frames(path: &Path) -> Vec<(u64, Record)> {
    let b = fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + 8 <= b.len() {
        let word = u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"));
        if word == 0 {
            break;
        }
        let (len, pad) = wal::decode_frame_size(word);
        let start = off + 8;
        let end = start + len as usize;
        let rec = Record::decode(&b[start..end]).expect("record");
        out.push((off as u64, rec));
        off = end + pad as usize;
    }
    out
}

fn indexes(es: &[Entry]) -> Vec<u64> {
    es.iter().map(|e| e.index).collect()
}

#[test]
fn first_segment_layout_and_preallocation() {
    let (_t, dir, w) = new_wal(opts(SMALL));
    assert!(!dir.with_extension("tmp").exists(), "wal.tmp must be renamed away");
    let files = wal_files(&dir);
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].file_name().and_then(|n| n.to_str()),
        Some("0000000000000000-0000000000000000.wal")
    );
    let md = fs::metadata(&files[0]).expect("stat");
    assert_eq!(md.len(), SMALL);
    use std::os::unix::fs::MetadataExt;
    assert!(md.blocks() * 512 >= SMALL, "segment must be allocated, not sparse");

    let fr = frames(&files[0]);
    let types: Vec<i64> = fr.iter().map(|(_, r)| r.r#type).collect();
    assert_eq!(types, vec![4, 1, 5]);
    assert_eq!(fr[0].1.crc, 0);
    assert_eq!(fr[1].1.data.as_deref(), Some(&b"node=1,cluster=7"[..]));
    let snap = proto::walpb::Snapshot::decode(fr[2].1.data.as_deref().expect("data")).expect("snapshot");
    assert_eq!((snap.index, snap.term), (0, 0));
    // Byte-exact first frame: Crc{0} = 08 04 10 00 plus 4 bytes padding, top byte 0x84.
    let raw = fs::read(&files[0]).expect("read");
    assert_eq!(&raw[..16], &[4, 0, 0, 0, 0, 0, 0, 0x84, 8, 4, 0x10, 0, 0, 0, 0, 0]);

    // The next segment is already prepared.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !dir.join("0.tmp").exists() {
        assert!(std::time::Instant::now() < deadline, "0.tmp never prepared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(w);
    assert!(!dir.join("0.tmp").exists(), "spare segment removed on drop");
}

#[test]
fn round_trip_and_append_after_reopen() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    w.save(&hs(1, 1, 0), &[entry(1, 1, b"a"), entry(1, 2, b"b")])
        .expect("save");
    w.save(&hs(1, 1, 2), &[entry(1, 3, b"c")]).expect("save");
    w.close().expect("close");

    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("open");
    assert_eq!(r.metadata, b"node=1,cluster=7");
    assert_eq!(r.hard_state, hs(1, 1, 2));
    assert_eq!(indexes(&r.entries), vec![1, 2, 3]);
    assert_eq!(r.entries[2], entry(1, 3, b"c"));
    assert_eq!(w.last_index(), 3);

    w.save(&hs(2, 2, 3), &[entry(2, 4, b"d")]).expect("save");
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("reopen");
    assert_eq!(indexes(&r.entries), vec![1, 2, 3, 4]);
    assert_eq!(r.hard_state, hs(2, 2, 3));
}

#[test]
fn create_refuses_existing_and_open_locks() {
    let (_t, dir, w) = new_wal(opts(SMALL));
    let err = Wal::create(&dir, b"x", opts(SMALL)).expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert!(Wal::exists(&dir));
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(w);
    Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("open after drop");

    // A stale <dir>.tmp from a crashed create is replaced.
    let other = dir.with_file_name("wal2");
    fs::create_dir_all(other.with_file_name("wal2.tmp")).expect("mkdir");
    fs::write(other.with_file_name("wal2.tmp").join("junk"), b"j").expect("junk");
    drop(Wal::create(&other, b"m", opts(SMALL)).expect("create over stale tmp"));
    assert!(!other.with_file_name("wal2.tmp").exists());
    assert!(!other.join("junk").exists());
}

#[test]
fn cut_creates_named_segments_with_chained_headers() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let payload = vec![7u8; 1000];
    let mut idx = 0;
    for _ in 0..40 {
        idx += 1;
        w.save(&hs(1, 1, idx), &[entry(1, idx, &payload)]).expect("save");
    }
    let files = wal_files(&dir);
    assert!(files.len() >= 3, "expected several segments, got {files:?}");

    // Recompute the running CRC through every segment and check each header.
    let mut crc = 0u32;
    let mut last_entry = 0u64;
    for (n, f) in files.iter().enumerate() {
        let name = f.file_name().and_then(|x| x.to_str()).expect("name");
        let fr = frames(f);
        if n > 0 {
            assert_eq!(name, wal::wal_name(n as u64, last_entry + 1), "segment name");
            let types: Vec<i64> = fr.iter().take(3).map(|(_, r)| r.r#type).collect();
            assert_eq!(types, vec![4, 1, 3], "Crc, Metadata, State at the head of {name}");
            assert_eq!(fr[0].1.crc, crc, "Crc record carries the previous running crc");
            // Cut segments are truncated to their content.
            let prev = &files[n - 1];
            let prev_frames = frames(prev);
            let (poff, prec) = prev_frames.last().expect("frames");
            let plen = prec.encoded_len() as u64;
            let end = poff + 8 + plen + (8 - plen % 8) % 8;
            assert_eq!(fs::metadata(prev).expect("stat").len(), end);
        }
        for (_, r) in &fr {
            if r.r#type == RecordType::Crc as i64 {
                crc = r.crc;
                continue;
            }
            crc = crc32c::crc32c_append(crc, r.data.as_deref().unwrap_or_default());
            assert_eq!(r.crc, crc, "running crc in {name}");
            if r.r#type == RecordType::Entry as i64 {
                last_entry = Entry::parse_from_bytes(r.data.as_deref().expect("data"))
                    .expect("entry")
                    .index;
            }
        }
    }
    drop(w);
    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("open");
    assert_eq!(indexes(&r.entries), (1..=40).collect::<Vec<_>>());
    assert_eq!(r.hard_state.commit, 40);
    // Appending keeps working across more cuts after reopen.
    for i in 41..=60 {
        w.save(&hs(1, 1, i), &[entry(1, i, &payload)]).expect("save");
    }
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("open");
    assert_eq!(indexes(&r.entries), (1..=60).collect::<Vec<_>>());
}

#[test]
fn a_large_batch_is_one_write_and_one_fsync() {
    let (_t, dir, mut w) = new_wal(opts(1 << 20));
    let syncs = Arc::new(AtomicUsize::new(0));
    let s = syncs.clone();
    w.set_fsync_observer(Box::new(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    }));
    let batch: Vec<Entry> = (1..=500).map(|i| entry(1, i, b"payload")).collect();
    w.save(&hs(1, 1, 0), &batch).expect("save");
    assert_eq!(syncs.load(Ordering::SeqCst), 1, "one fsync per save");

    // Only the commit index moved: no fsync (raft MustSync).
    w.save(&hs(1, 1, 10), &[]).expect("save");
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
    // Nothing to save at all.
    w.save(&HardState::default(), &[]).expect("save");
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
    // Term or vote changed: fsync.
    w.save(&hs(2, 1, 10), &[]).expect("save");
    assert_eq!(syncs.load(Ordering::SeqCst), 2);
    w.save(&hs(2, 3, 10), &[]).expect("save");
    assert_eq!(syncs.load(Ordering::SeqCst), 3);
    // Snapshot markers and explicit sync always fsync.
    w.save_snapshot(&marker(5, 1)).expect("snapshot");
    assert_eq!(syncs.load(Ordering::SeqCst), 4);
    w.sync().expect("sync");
    assert_eq!(syncs.load(Ordering::SeqCst), 5);
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(1 << 20)).expect("open");
    assert_eq!(r.entries.len(), 500);
    assert_eq!(r.hard_state, hs(2, 3, 10));
}

#[test]
fn unsafe_no_fsync_skips_fsyncs() {
    let o = WalOptions {
        segment_size: SMALL,
        unsafe_no_fsync: true,
        ..Default::default()
    };
    let (_t, dir, mut w) = new_wal(o.clone());
    let syncs = Arc::new(AtomicUsize::new(0));
    let s = syncs.clone();
    w.set_fsync_observer(Box::new(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    }));
    w.save(&hs(1, 1, 1), &[entry(1, 1, b"x")]).expect("save");
    w.save_snapshot(&marker(1, 1)).expect("snapshot");
    assert_eq!(syncs.load(Ordering::SeqCst), 0);
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), o).expect("open");
    assert_eq!(r.entries.len(), 1);
}

#[test]
fn later_entries_supersede_earlier_ones() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let es: Vec<Entry> = (1..=5).map(|i| entry(1, i, b"old")).collect();
    w.save(&hs(1, 1, 2), &es).expect("save");
    // A new leader overwrites from index 3.
    w.save(&hs(2, 2, 2), &[entry(2, 3, b"new"), entry(2, 4, b"new")])
        .expect("save");
    drop(w);
    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("open");
    assert_eq!(indexes(&r.entries), vec![1, 2, 3, 4]);
    assert_eq!(r.entries[1].term, 1);
    assert_eq!(r.entries[2], entry(2, 3, b"new"));
    assert_eq!(r.entries[3].term, 2);

    // An entry leaving a hole is an error naming where it is.
    w.save(&hs(2, 2, 2), &[entry(2, 9, b"gap")]).expect("save");
    drop(w);
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("gap");
    assert!(matches!(err, Error::EntryGap { entry_index: 9, .. }), "{err}");
}

#[test]
fn snapshot_markers() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let es: Vec<Entry> = (1..=6).map(|i| entry(1, i, b"e")).collect();
    w.save(&hs(1, 1, 6), &es).expect("save");
    let err = w
        .save_snapshot(&WalSnapshot {
            index: 4,
            term: 1,
            conf_state: None,
        })
        .expect_err("conf state required");
    assert!(matches!(err, Error::SnapshotMissingConfState { index: 4 }), "{err}");
    w.save_snapshot(&marker(4, 1)).expect("snapshot");
    // A marker past the commit index (commit is 6 so far).
    w.save_snapshot(&marker(8, 1)).expect("snapshot");
    drop(w);

    let valid = wal::valid_snapshot_entries(&dir).expect("valid");
    let got: Vec<(u64, u64)> = valid.iter().map(|s| (s.index, s.term)).collect();
    assert_eq!(got, vec![(0, 0), (4, 1)], "markers above commit are not valid");
    assert_eq!(valid[1].conf_state, Some(conf_state()));

    let (w, r) = Wal::open(&dir, &marker(4, 1), opts(SMALL)).expect("open at 4");
    assert_eq!(indexes(&r.entries), vec![5, 6]);
    drop(w);
    let err = Wal::open(&dir, &marker(4, 2), opts(SMALL)).expect_err("mismatch");
    assert!(
        matches!(
            err,
            Error::SnapshotMismatch {
                index: 4,
                want_term: 2,
                found_term: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = Wal::open(&dir, &marker(5, 1), opts(SMALL)).expect_err("not found");
    assert!(matches!(err, Error::SnapshotNotFound { index: 5, term: 1 }), "{err}");
}

/// Fills several segments, returns the files.
fn fill(dir: &Path, w: &mut Wal, from: u64, to: u64) -> Vec<PathBuf> {
    let payload = vec![3u8; 1000];
    for i in from..=to {
        w.save(&hs(1, 1, i), &[entry(1, i, &payload)]).expect("save");
    }
    wal_files(dir)
}

#[test]
fn torn_tail_truncated_mid_record_is_repaired() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let files = fill(&dir, &mut w, 1, 30);
    drop(w);
    let last = files.last().expect("last").clone();
    let (off, _) = frames(&last)
        .into_iter()
        .rfind(|(_, r)| r.r#type == RecordType::Entry as i64)
        .expect("entry frame");
    // Cut the file 5 bytes into the last entry's body.
    let f = fs::OpenOptions::new().write(true).open(&last).expect("open");
    f.set_len(off + 8 + 5).expect("truncate");
    drop(f);

    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("repaired");
    assert_eq!(r.entries.last().map(|e| e.index), Some(29));
    let mut broken = last.clone().into_os_string();
    broken.push(".broken");
    assert!(PathBuf::from(broken).exists(), "damaged tail kept as .broken");
    w.save(&hs(1, 1, 30), &[entry(1, 30, b"again")]).expect("append");
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("reopen");
    assert_eq!(indexes(&r.entries), (1..=30).collect::<Vec<_>>());
    assert_eq!(r.entries[29], entry(1, 30, b"again"));
}

#[test]
fn torn_tail_zeroed_sector_is_repaired() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    // A big last record spanning several sectors.
    w.save(&hs(1, 1, 1), &[entry(1, 1, b"first")]).expect("save");
    w.save(&hs(1, 1, 1), &[entry(1, 2, &[9u8; 3000])]).expect("save");
    drop(w);
    let last = wal_files(&dir).last().expect("file").clone();
    let (off, _) = frames(&last)
        .into_iter()
        .rfind(|(_, r)| r.r#type == RecordType::Entry as i64)
        .expect("entry frame");
    // Zero the second sector the record touches (a write that never reached disk).
    let sector = (off / 512 + 2) * 512;
    let f = fs::OpenOptions::new().write(true).open(&last).expect("open");
    f.write_all_at(&[0u8; 512], sector).expect("zero");
    drop(f);

    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("repaired");
    assert_eq!(indexes(&r.entries), vec![1]);
    w.save(&hs(1, 1, 2), &[entry(1, 2, b"second")]).expect("append");
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("reopen");
    assert_eq!(indexes(&r.entries), vec![1, 2]);
    // Nothing of the torn record may linger after the new one.
    assert_eq!(r.hard_state.commit, 2);
}

#[test]
fn torn_tail_length_past_eof_is_repaired() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    w.save(&hs(1, 1, 1), &[entry(1, 1, b"one"), entry(1, 2, b"two")])
        .expect("save");
    drop(w);
    let last = wal_files(&dir).last().expect("file").clone();
    let (off, _) = frames(&last)
        .into_iter()
        .rfind(|(_, r)| r.r#type == RecordType::Entry as i64)
        .expect("entry frame");
    let f = fs::OpenOptions::new().write(true).open(&last).expect("open");
    f.write_all_at(&(SMALL * 4).to_le_bytes(), off).expect("length");
    drop(f);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("repaired");
    assert_eq!(indexes(&r.entries), vec![1]);
    // The HardState record after the torn entry is gone too.
    assert_eq!(r.hard_state, HardState::default());
}

#[test]
fn flipped_byte_is_an_error_naming_file_and_offset() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let files = fill(&dir, &mut w, 1, 40);
    drop(w);
    assert!(files.len() >= 3);
    // Middle segment: flip a byte in the data of its second entry (after Crc, Metadata,
    // State, Entry, State).
    let mid = &files[1];
    let (off, rec) = frames(mid)[5].clone();
    assert_eq!(rec.r#type, RecordType::Entry as i64);
    let pos = off + 8 + rec.encoded_len() as u64 - 10;
    flip(mid, pos);
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("corrupt");
    let msg = err.to_string();
    assert!(matches!(err, Error::CrcMismatch { .. }), "{msg}");
    assert!(msg.contains(&mid.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("at offset {off}")), "{msg}");
    // valid_snapshot_entries reads the same chain and fails the same way.
    assert!(wal::valid_snapshot_entries(&dir).is_err());
    flip(mid, pos);
    Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("restored");

    // In the last segment a flipped byte (no zeroed sector) is corruption too, not a torn
    // write: it must not be silently cut away.
    let last = files.last().expect("last");
    let (off, rec) = frames(last)[3].clone();
    let pos = off + 8 + rec.encoded_len() as u64 - 3;
    flip(last, pos);
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("corrupt");
    let msg = err.to_string();
    assert!(msg.contains(&last.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("at offset {off}")), "{msg}");

    // A truncated middle segment is an error, not a repair.
    flip(last, pos);
    let mid_len = fs::metadata(mid).expect("stat").len();
    let f = fs::OpenOptions::new().write(true).open(mid).expect("open");
    f.set_len(mid_len - 4).expect("truncate");
    drop(f);
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("truncated");
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&mid.display().to_string()), "{msg}");
}

fn flip(path: &Path, pos: u64) {
    let f = fs::OpenOptions::new().read(true).write(true).open(path).expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, pos).expect("read");
    b[0] ^= 0x55;
    f.write_all_at(&b, pos).expect("write");
}

#[test]
fn undecodable_record_is_an_error() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    w.save(&hs(1, 1, 1), &[entry(1, 1, b"x")]).expect("save");
    drop(w);
    let file = wal_files(&dir)[0].clone();
    // Metadata frame body: make its first byte an invalid wire type (7).
    let (off, _) = frames(&file)[1].clone();
    let f = fs::OpenOptions::new().write(true).open(&file).expect("open");
    f.write_all_at(&[0x0f], off + 8).expect("write");
    drop(f);
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("corrupt");
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&format!("at offset {off}")), "{msg}");
}

#[test]
fn missing_segment_in_sequence_is_an_error() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let files = fill(&dir, &mut w, 1, 40);
    drop(w);
    fs::remove_file(&files[1]).expect("rm");
    let err = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect_err("gap");
    assert!(matches!(err, Error::BadSequence { .. }), "{err}");
}

#[test]
fn release_to_unlocks_and_purges_old_segments() {
    let o = WalOptions {
        segment_size: SMALL,
        max_wals: 2,
        ..Default::default()
    };
    let (_t, dir, mut w) = new_wal(o.clone());
    let files = fill(&dir, &mut w, 1, 80);
    assert!(files.len() >= 5, "{files:?}");
    let snap_index = 70;
    w.save_snapshot(&marker(snap_index, 1)).expect("snapshot");
    // The segment holding index 70 and later ones stay.
    let starts: Vec<u64> = files
        .iter()
        .map(|p| {
            let n = p.file_name().and_then(|x| x.to_str()).expect("name");
            u64::from_str_radix(&n[17..33], 16).expect("hex")
        })
        .collect();
    let holder = starts.iter().rposition(|s| *s <= snap_index).expect("holder");

    // Nothing released yet: every file is locked, purge removes nothing.
    let removed = w.release_to(0).expect("release 0");
    assert!(removed.is_empty());

    let removed = w.release_to(snap_index).expect("release");
    let left = wal_files(&dir);
    assert_eq!(removed.len() + left.len(), files.len());
    assert!(left.len() >= 2);
    assert!(left.contains(&files[holder]), "segment holding the snapshot kept");
    assert!(removed.iter().all(|p| files.iter().position(|f| f == p) < Some(holder)));

    drop(w);
    let (_w, r) = Wal::open(&dir, &marker(snap_index, 1), o).expect("open at snapshot");
    assert_eq!(indexes(&r.entries), (71..=80).collect::<Vec<_>>());
    assert_eq!(r.hard_state.commit, 80);
}

#[test]
fn wal_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Wal>();
}

#[test]
fn wholly_torn_tail_segment_gets_a_new_header() {
    let (_t, dir, mut w) = new_wal(opts(SMALL));
    let files = fill(&dir, &mut w, 1, 40);
    drop(w);
    let last = files.last().expect("last").clone();
    // Only three bytes of the new segment reached the disk.
    let f = fs::OpenOptions::new().write(true).open(&last).expect("open");
    f.set_len(3).expect("truncate");
    drop(f);
    let (mut w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("repaired");
    let n = r.entries.len() as u64;
    assert!(n < 40);
    let types: Vec<i64> = frames(&last).iter().map(|(_, r)| r.r#type).collect();
    assert_eq!(types, vec![4, 1, 3], "Crc, Metadata, State rewritten");
    w.save(&hs(1, 1, n + 1), &[entry(1, n + 1, b"next")]).expect("append");
    drop(w);
    let (_w, r) = Wal::open(&dir, &WalSnapshot::default(), opts(SMALL)).expect("reopen");
    assert_eq!(indexes(&r.entries), (1..=n + 1).collect::<Vec<_>>());
}

#[test]
fn default_segments_are_64_mb_and_preallocated() {
    assert_eq!(WalOptions::default().segment_size, 64_000_000);
    assert_eq!(WalOptions::default().max_wals, 5);
    let (_t, dir, w) = new_wal(WalOptions::default());
    let f = &wal_files(&dir)[0];
    let md = fs::metadata(f).expect("stat");
    assert_eq!(md.len(), 64_000_000);
    use std::os::unix::fs::MetadataExt;
    assert!(md.blocks() * 512 >= 64_000_000, "not sparse");
    drop(w);
}
