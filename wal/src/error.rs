//! The crate's one error type: every variant names the file (and offset) it is about.

use std::io;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors from the WAL and the snapshotter.
///
/// Corruption variants carry the file and the byte offset of the frame that failed, so an
/// operator can find it with `xxd -s <offset>`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed.
    #[error("wal: {op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `fsync`, `rename`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A WAL file is locked by another `Wal` (in this or another process).
    #[error("wal: {path} is locked by another process or WAL instance")]
    Locked {
        /// The locked file.
        path: PathBuf,
    },

    /// `Wal::create` on a directory that already holds `.wal` files.
    #[error("wal: {dir} already contains WAL files")]
    Exists {
        /// The WAL directory.
        dir: PathBuf,
    },

    /// No `.wal` files in the directory (etcd `ErrFileNotFound`).
    #[error("wal: no WAL files found in {dir}")]
    FileNotFound {
        /// The WAL directory.
        dir: PathBuf,
    },

    /// No segment starts at or before the requested snapshot index.
    #[error("wal: no WAL file in {dir} covers snapshot index {index}")]
    NoFileForIndex {
        /// The WAL directory.
        dir: PathBuf,
        /// The snapshot index asked for.
        index: u64,
    },

    /// Segment sequence numbers have a gap (a segment was lost).
    #[error("wal: segment sequence numbers in {dir} do not increase continuously at {name}")]
    BadSequence {
        /// The WAL directory.
        dir: PathBuf,
        /// The first file out of sequence.
        name: String,
    },

    /// A frame or record that cannot be decoded, or a truncated record that is not at the tail
    /// of the last segment.
    #[error("wal: corrupt record in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// A record's CRC does not match the running CRC-32C (etcd `ErrCRCMismatch`).
    #[error("wal: crc mismatch in {path} at offset {offset}: record has {stored:08x}, computed {computed:08x}")]
    CrcMismatch {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
        /// CRC stored in the record.
        stored: u32,
        /// CRC computed from the chain.
        computed: u32,
    },

    /// Two metadata records differ (etcd `ErrMetadataConflict`).
    #[error("wal: conflicting metadata in {path} at offset {offset}")]
    MetadataConflict {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
    },

    /// A record type outside 1..=5.
    #[error("wal: unexpected record type {record_type} in {path} at offset {offset}")]
    UnexpectedRecordType {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
        /// The type found.
        record_type: i64,
    },

    /// An entry's index leaves a hole after the entries read so far (etcd `ErrSliceOutOfRange`).
    #[error("wal: entry index {entry_index} in {path} at offset {offset} leaves a gap (snapshot index {snapshot_index}, {have} entries read)")]
    EntryGap {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
        /// Index the replay started after.
        snapshot_index: u64,
        /// The offending entry's index.
        entry_index: u64,
        /// How many entries had been read.
        have: usize,
    },

    /// The snapshot marker the caller opened at is not in the WAL (etcd `ErrSnapshotNotFound`).
    #[error("wal: snapshot not found (index {index}, term {term})")]
    SnapshotNotFound {
        /// Requested snapshot index.
        index: u64,
        /// Requested snapshot term.
        term: u64,
    },

    /// A snapshot marker at the requested index has another term (etcd `ErrSnapshotMismatch`).
    #[error("wal: snapshot mismatch at index {index} in {path} at offset {offset}: wanted term {want_term}, found {found_term}")]
    SnapshotMismatch {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame's length word.
        offset: u64,
        /// Snapshot index.
        index: u64,
        /// Term the caller asked for.
        want_term: u64,
        /// Term in the WAL.
        found_term: u64,
    },

    /// `save_snapshot` of a non-initial marker without a `ConfState` (etcd >= 3.5 rule).
    #[error("wal: snapshot marker at index {index} is missing its ConfState")]
    SnapshotMissingConfState {
        /// Snapshot index.
        index: u64,
    },

    /// A protobuf message could not be encoded.
    #[error("wal: encode {what}: {reason}")]
    Encode {
        /// Which message.
        what: &'static str,
        /// Encoder's message.
        reason: String,
    },

    /// An earlier write failed; the in-memory position no longer matches the file. Drop the
    /// `Wal` and open it again (which repairs the tail).
    #[error("wal: an earlier write failed; reopen the WAL")]
    Poisoned,

    /// The background segment allocator stopped.
    #[error("wal: segment allocator stopped: {reason}")]
    Pipeline {
        /// Why.
        reason: String,
    },

    /// A `.snap` file is empty, has a zero CRC or empty data (etcd `ErrEmptySnapshot`).
    #[error("snap: empty snapshot {path}")]
    EmptySnapshot {
        /// The `.snap` file.
        path: PathBuf,
    },

    /// A `.snap` file's CRC does not match its data (etcd snap `ErrCRCMismatch`).
    #[error("snap: crc mismatch in {path}: stored {stored:08x}, computed {computed:08x}")]
    SnapCrcMismatch {
        /// The `.snap` file.
        path: PathBuf,
        /// CRC in the file.
        stored: u32,
        /// CRC of the data.
        computed: u32,
    },

    /// A `.snap` file whose body does not decode.
    #[error("snap: corrupt snapshot {path}: {reason}")]
    SnapCorrupt {
        /// The `.snap` file.
        path: PathBuf,
        /// Decoder's message.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
