//! The store's error type: every failure a request can meet, named once. The mapping to
//! etcd's gRPC codes and exact messages lives in `server/errors.rs`.

use crate::backend::BackendError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    #[error("mvcc: required revision is a future revision")]
    FutureRev,
    #[error("key not found")]
    KeyNotFound,
    #[error("requested lease not found")]
    LeaseNotFound,
    #[error("lease already exists")]
    LeaseExists,
    #[error("too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("lease is provided")]
    LeaseProvided,
    #[error("value is provided")]
    ValueProvided,
    #[error("mvcc: database space exceeded")]
    NoSpace,
    #[error("too many operations in txn request")]
    TooManyOps,
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    #[error("key is not provided")]
    EmptyKey,
    #[error("request is too large")]
    RequestTooLarge,
    #[error("no leader")]
    NoLeader,
    #[error("request timed out")]
    Timeout,
    #[error("server stopped")]
    Stopped,
    #[error("not capable")]
    NotCapable,
    #[error("member not found")]
    MemberNotFound,
    #[error("member ID already exist")]
    MemberExists,
    #[error("Peer URLs already exists")]
    PeerUrlExists,
    #[error("given member URLs are invalid")]
    MemberBadUrls,
    #[error("can only promote a learner member")]
    MemberNotLearner,
    #[error("can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("too many learner members in cluster")]
    TooManyLearners,
    #[error("re-configuration failed due to not enough started members")]
    NotEnoughStartedMembers,
    #[error("unhealthy cluster")]
    Unhealthy,
    #[error("rpc not supported for learner")]
    NotSupportedForLearner,
    #[error("the member has been permanently removed from the cluster")]
    MemberRemoved,
    #[error("root user does not exist")]
    RootUserNotExist,
    #[error("root user does not have root role")]
    RootRoleNotExist,
    #[error("user name already exists")]
    UserAlreadyExist,
    #[error("user name is empty")]
    UserEmpty,
    #[error("user name not found")]
    UserNotFound,
    #[error("role name already exists")]
    RoleAlreadyExist,
    #[error("role name not found")]
    RoleNotFound,
    #[error("role name is empty")]
    RoleEmpty,
    #[error("authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("permission denied")]
    PermissionDenied,
    #[error("role is not granted to the user")]
    RoleNotGranted,
    #[error("permission is not granted to the role")]
    PermissionNotGranted,
    #[error("authentication is not enabled")]
    AuthNotEnabled,
    #[error("invalid auth token")]
    InvalidAuthToken,
    #[error("invalid auth management")]
    InvalidAuthMgmt,
    #[error("{0}")]
    Unimplemented(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Backend(String),
}

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Self {
        Error::Backend(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
