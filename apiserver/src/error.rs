//! The crate's error type: every failure a request can meet, with the data
//! `http/status.rs` needs to build Kubernetes' exact `Status` object.

use crate::registry::validation::FieldError;
use crate::storage::StorageError;

/// `pods` or `deployments.apps`, as Kubernetes prints a GroupResource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupResource {
    pub group: &'static str,
    pub resource: &'static str,
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: GroupResource, name: String },
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: GroupResource, name: String },
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {message}")]
    Conflict {
        resource: GroupResource,
        name: String,
        message: String,
    },
    #[error("{} \"{name}\" is invalid: {}", group_kind(group, kind), join_field_errors(errors))]
    Invalid {
        group: &'static str,
        kind: &'static str,
        name: String,
        errors: Vec<FieldError>,
    },
    #[error("{resource} \"{name}\" is forbidden: {message}")]
    Forbidden {
        resource: GroupResource,
        name: String,
        message: String,
    },
    /// A request the authorizer or an admission plugin refused, on any GroupResource
    /// (apierrors.NewForbidden: no name, or no resource at all, shorten the message).
    #[error("{}", access_denied(group, resource, name, message))]
    AccessDenied {
        group: String,
        resource: String,
        name: String,
        message: String,
    },
    /// Server-side apply conflicts: 409 with one `FieldManagerConflict` cause per field.
    #[error("{}", crate::registry::managed_fields::conflict_message(.0))]
    ApplyConflict(Vec<crate::registry::managed_fields::Conflict>),
    #[error("{0}")]
    BadRequest(String),
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 405 with a specific message (e.g. creating custom resources of a terminating CRD).
    #[error("{0}")]
    NotAllowed(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 406: no Accept clause can be served (kube's errNotAcceptable message).
    #[error("{0}")]
    NotAcceptable(String),
    #[error("Too large resource version: {0}")]
    TooLargeResourceVersion(String),
    #[error("Internal error occurred: {0}")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
}

/// schema.GroupKind's String(): `Kind.group`, or `Kind` in the core group.
fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

fn access_denied(group: &str, resource: &str, name: &str, message: &str) -> String {
    let gr = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    match (resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {message}"),
        (false, true) => format!("{gr} is forbidden: {message}"),
        (false, false) => format!("{gr} {name:?} is forbidden: {message}"),
    }
}

fn join_field_errors(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Compacted { .. } => {
                ApiError::Gone("The resourceVersion for the provided list is too old.".into())
            }
            StorageError::FutureRevision(_) => {
                ApiError::TooLargeResourceVersion("resource version is in the future".into())
            }
            StorageError::Unavailable(m) => ApiError::Unavailable(format!("etcd unavailable: {m}")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::registry::managed_fields::Error> for ApiError {
    fn from(e: crate::registry::managed_fields::Error) -> Self {
        use crate::registry::managed_fields::Error;
        match e {
            Error::Conflicts(c) => ApiError::ApplyConflict(c),
            Error::BadRequest(m) => ApiError::BadRequest(m),
            Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;
