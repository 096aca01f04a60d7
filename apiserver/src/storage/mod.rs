//! Storage: everything between a registry and an etcd-v3 endpoint.
//!
//! Owns the etcd3 client with fail-over (`etcd3`), the value `Codec`
//! (`codec`), the `/registry/...` key layout (`keys`), list continue tokens
//! (`continue_token`), the watch stream (`watch`) and the Kubernetes
//! protobuf decoder (`protobuf`), service range bitmaps (`ranges`). Callers see plain
//! revisions and bytes; Kubernetes objects only appear in `codec`.

pub mod codec;
pub mod continue_token;
pub mod etcd3;
pub mod keys;
pub mod protobuf;
pub mod ranges;
pub mod watch;

pub use etcd3::Etcd;

/// What can go wrong talking to the store. Mapped to a `Status` only in
/// `http/status.rs` (via `ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("required revision {requested} has been compacted (compacted at {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("required revision {0} is a future revision")]
    FutureRevision(i64),
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    #[error("etcd error: {0}")]
    Internal(String),
    #[error("cannot decode stored value at {key}: {reason}")]
    Decode { key: String, reason: String },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
