//! The one place store errors become gRPC statuses: etcd's codes and exact messages
//! (etcd `api/v3rpc/rpctypes/error.go`).

use tonic::{Code, Status};

use crate::error::Error;

pub fn status(e: Error) -> Status {
    let (code, msg): (Code, String) = match &e {
        Error::Compacted => (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted".into(),
        ),
        Error::FutureRev => (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision".into(),
        ),
        Error::KeyNotFound => (Code::InvalidArgument, "etcdserver: key not found".into()),
        Error::LeaseNotFound => (Code::NotFound, "etcdserver: requested lease not found".into()),
        Error::LeaseExists => (Code::FailedPrecondition, "etcdserver: lease already exists".into()),
        Error::LeaseTtlTooLarge => (Code::OutOfRange, "etcdserver: too large lease TTL".into()),
        Error::LeaseProvided => (Code::InvalidArgument, "etcdserver: lease is provided".into()),
        Error::ValueProvided => (Code::InvalidArgument, "etcdserver: value is provided".into()),
        Error::NoSpace => (
            Code::ResourceExhausted,
            "etcdserver: mvcc: database space exceeded".into(),
        ),
        Error::TooManyOps => (
            Code::InvalidArgument,
            "etcdserver: too many operations in txn request".into(),
        ),
        Error::DuplicateKey => (
            Code::InvalidArgument,
            "etcdserver: duplicate key given in txn request".into(),
        ),
        Error::EmptyKey => (Code::InvalidArgument, "etcdserver: key is not provided".into()),
        Error::RequestTooLarge => (Code::InvalidArgument, "etcdserver: request is too large".into()),
        Error::NoLeader => (Code::Unavailable, "etcdserver: no leader".into()),
        Error::Timeout => (Code::Unavailable, "etcdserver: request timed out".into()),
        Error::Stopped => (Code::Unavailable, "etcdserver: server stopped".into()),
        Error::NotCapable => (Code::Unavailable, "etcdserver: not capable".into()),
        Error::MemberNotFound => (Code::NotFound, "etcdserver: member not found".into()),
        Error::MemberExists => (Code::FailedPrecondition, "etcdserver: member ID already exist".into()),
        Error::PeerUrlExists => (Code::FailedPrecondition, "etcdserver: Peer URLs already exists".into()),
        Error::MemberBadUrls => (
            Code::InvalidArgument,
            "etcdserver: given member URLs are invalid".into(),
        ),
        Error::MemberNotLearner => (
            Code::FailedPrecondition,
            "etcdserver: can only promote a learner member".into(),
        ),
        Error::LearnerNotReady => (
            Code::FailedPrecondition,
            "etcdserver: can only promote a learner member which is in sync with leader".into(),
        ),
        Error::NotEnoughStartedMembers => (
            Code::FailedPrecondition,
            "etcdserver: re-configuration failed due to not enough started members".into(),
        ),
        Error::Unhealthy => (Code::Unavailable, "etcdserver: unhealthy cluster".into()),
        Error::TooManyLearners => (
            Code::FailedPrecondition,
            "etcdserver: too many learner members in cluster".into(),
        ),
        Error::NotSupportedForLearner => (Code::Unavailable, "etcdserver: rpc not supported for learner".into()),
        Error::RootUserNotExist => (Code::FailedPrecondition, "etcdserver: root user does not exist".into()),
        Error::RootRoleNotExist => (
            Code::FailedPrecondition,
            "etcdserver: root user does not have root role".into(),
        ),
        Error::UserAlreadyExist => (Code::FailedPrecondition, "etcdserver: user name already exists".into()),
        Error::UserEmpty => (Code::InvalidArgument, "etcdserver: user name is empty".into()),
        Error::UserNotFound => (Code::FailedPrecondition, "etcdserver: user name not found".into()),
        Error::RoleAlreadyExist => (Code::FailedPrecondition, "etcdserver: role name already exists".into()),
        Error::RoleNotFound => (Code::FailedPrecondition, "etcdserver: role name not found".into()),
        Error::RoleEmpty => (Code::InvalidArgument, "etcdserver: role name is empty".into()),
        Error::AuthFailed => (
            Code::InvalidArgument,
            "etcdserver: authentication failed, invalid user ID or password".into(),
        ),
        Error::PermissionDenied => (Code::PermissionDenied, "etcdserver: permission denied".into()),
        Error::RoleNotGranted => (
            Code::FailedPrecondition,
            "etcdserver: role is not granted to the user".into(),
        ),
        Error::PermissionNotGranted => (
            Code::FailedPrecondition,
            "etcdserver: permission is not granted to the role".into(),
        ),
        Error::AuthNotEnabled => (
            Code::FailedPrecondition,
            "etcdserver: authentication is not enabled".into(),
        ),
        Error::InvalidAuthToken => (Code::Unauthenticated, "etcdserver: invalid auth token".into()),
        Error::InvalidAuthMgmt => (Code::InvalidArgument, "etcdserver: invalid auth management".into()),
        Error::MemberRemoved => (
            Code::FailedPrecondition,
            "etcdserver: the member has been permanently removed from the cluster".into(),
        ),
        Error::Unimplemented(m) => (Code::Unimplemented, (*m).to_string()),
        Error::InvalidArgument(m) => (Code::InvalidArgument, m.clone()),
        Error::Corrupt(m) => {
            tracing::error!(error = %m, "data corruption");
            (Code::DataLoss, "etcdserver: corrupt cluster".into())
        }
        Error::Backend(m) => (Code::Internal, format!("etcdserver: {m}")),
    };
    Status::new(code, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_are_etcds() {
        let cases = [
            (
                Error::Compacted,
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (
                Error::FutureRev,
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            (
                Error::NoSpace,
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            (
                Error::TooManyOps,
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            (
                Error::DuplicateKey,
                Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
            ),
            (
                Error::EmptyKey,
                Code::InvalidArgument,
                "etcdserver: key is not provided",
            ),
            (
                Error::RequestTooLarge,
                Code::InvalidArgument,
                "etcdserver: request is too large",
            ),
            (
                Error::LeaseNotFound,
                Code::NotFound,
                "etcdserver: requested lease not found",
            ),
            (Error::NoLeader, Code::Unavailable, "etcdserver: no leader"),
            (Error::Timeout, Code::Unavailable, "etcdserver: request timed out"),
            (Error::KeyNotFound, Code::InvalidArgument, "etcdserver: key not found"),
            (
                Error::LeaseExists,
                Code::FailedPrecondition,
                "etcdserver: lease already exists",
            ),
            (
                Error::LeaseTtlTooLarge,
                Code::OutOfRange,
                "etcdserver: too large lease TTL",
            ),
        ];
        for (e, code, msg) in cases {
            let s = status(e);
            assert_eq!((s.code(), s.message()), (code, msg));
        }
    }
}
