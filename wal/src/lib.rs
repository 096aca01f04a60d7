//! etcd's write-ahead log (`member/wal`) and snapshot files (`member/snap`), byte-compatible
//! with etcd v3.5/v3.6 data dirs. Library only: blocking `std` I/O, no async runtime.
//!
//! # Layout
//!
//! - `wal.rs`: [`Wal`]: create, open + replay + torn-tail repair, save, cut, release/purge.
//! - `record.rs`: frame encoding/decoding and the running CRC-32C.
//! - `pipeline.rs`: background thread keeping the next segment (`0.tmp`/`1.tmp`) preallocated.
//! - `snap.rs`: [`Snapshotter`] for `.snap` files.
//! - `fileutil.rs`: names, `flock`, `fallocate`, directory fsync, purge.
//! - `error.rs`: [`Error`], every variant naming its file (and offset).
//!
//! # On-disk format (as etcd `server/storage/wal/doc.go`)
//!
//! A WAL directory holds segment files named `%016x-%016x.wal`: the sequence number, then the
//! raft index the segment's entries start from. The first is
//! `0000000000000000-0000000000000000.wal`; a cut creates `seq+1` named after the last entry
//! index + 1. Each segment is preallocated ([`SEGMENT_SIZE_BYTES`] = 64,000,000 bytes) with
//! `fallocate`; unused space is zeros. The next segment waits as `0.tmp` or `1.tmp`. Every
//! segment in use is `flock`ed. A new WAL is built in `<dir>.tmp` and renamed into place.
//!
//! A segment is a sequence of frames:
//!
//! ```text
//! | length word: u64 LE | walpb.Record (protobuf) | 0-7 zero bytes of padding |
//! ```
//!
//! The low 56 bits of the length word are the record length; if padding is needed (to keep
//! frames 8-byte aligned, so the length word itself can never be torn) the top byte is
//! `0x80 | pad`. A length word of 0 ends the segment (preallocated space).
//!
//! `walpb.Record{type=1, crc=2, data=3}`, with types Metadata=1 (opaque bytes, the server's
//! `etcdserverpb.Metadata{NodeID, ClusterID}`), Entry=2 (raft `Entry`), State=3 (raft
//! `HardState`), Crc=4 and Snapshot=5 (`walpb.Snapshot{index, term, conf_state}`).
//!
//! `crc` is a running CRC-32C (Castagnoli) over the `data` of every record ever written, in
//! order, so each record's CRC covers the whole log before it. Each segment starts with a Crc
//! record carrying the running value, then Metadata, then (after a cut) the last HardState,
//! so the chain spans files and a segment can be read once older ones are purged. The first
//! segment starts `Crc{0}`, `Metadata`, `Snapshot{0, 0}`.
//!
//! # Reading
//!
//! [`Wal::open`] starts at the last segment whose start index is at or below the requested
//! snapshot index. Entries after the snapshot index are collected; an entry whose index was
//! already seen truncates the list there (raft overwrote an uncommitted suffix). The last
//! HardState and the metadata (which must be identical in every segment) are returned, and the
//! requested snapshot marker must be present with the same term.
//!
//! A crash can leave the tail of the last segment torn: a partial length word, a length
//! running past the end of the file, or a record with an all-zero 512-byte sector that fails
//! to decode or to match its CRC. Such a tail is cut back to the last whole record and writing
//! continues there. The same damage anywhere else, and any CRC mismatch without a zeroed
//! sector, is an [`Error`] naming the file and offset: nothing is skipped silently.
//!
//! # Snapshots
//!
//! `member/snap/%016x-%016x.snap` (term, index) holds a `walpb.SnapFile{crc, data}` (etcd
//! `snappb.snapshot`), `data` being a marshalled raft `Snapshot`, `crc = crc32c(data)`.
//!
//! # Example
//!
//! ```
//! use raft_proto::eraftpb::{Entry, HardState};
//! use wal::{Wal, WalOptions, WalSnapshot};
//!
//! let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("wal");
//! let opts = WalOptions { segment_size: 64 * 1024, ..Default::default() };
//! let mut w = Wal::create(&dir, b"meta", opts.clone())?;
//! let e = Entry { term: 1, index: 1, data: b"put".to_vec().into(), ..Default::default() };
//! let hs = HardState { term: 1, vote: 1, commit: 1, ..Default::default() };
//! w.save(&hs, &[e])?; // one write, one fsync
//! drop(w);
//!
//! let (_w, replay) = Wal::open(&dir, &WalSnapshot::default(), opts)?;
//! assert_eq!(replay.metadata, b"meta");
//! assert_eq!(replay.entries.len(), 1);
//! assert_eq!(replay.hard_state.commit, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod fileutil;
mod pipeline;
mod record;
mod snap;
mod wal;

pub use error::{Error, Result};
pub use record::{decode_frame_size, encode_frame_size, RecordType};
pub use snap::{read_snap_file, snap_name, Snapshotter, DEFAULT_MAX_SNAPSHOTS};
pub use wal::{
    valid_snapshot_entries, FsyncObserver, Replay, Wal, WalOptions, WalSnapshot, DEFAULT_MAX_WALS, SEGMENT_SIZE_BYTES,
};

/// `%016x-%016x.wal` for a segment's sequence number and first index.
pub fn wal_name(seq: u64, index: u64) -> String {
    fileutil::wal_name(seq, index)
}
