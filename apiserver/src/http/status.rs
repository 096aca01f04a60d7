//! The one mapping from `ApiError` to a Kubernetes `Status` object and HTTP code.

use serde_json::{json, Value};

use crate::error::ApiError;

/// (HTTP status code, Status object) for an error.
pub fn to_status(err: &ApiError) -> (u16, Value) {
    let message = err.to_string();
    let (code, reason, details) = match err {
        ApiError::NotFound { resource, name } => (404, "NotFound", gr_details(resource, name)),
        ApiError::AlreadyExists { resource, name } => (409, "AlreadyExists", gr_details(resource, name)),
        ApiError::Conflict { resource, name, .. } => (409, "Conflict", gr_details(resource, name)),
        ApiError::Forbidden { resource, name, .. } => (403, "Forbidden", gr_details(resource, name)),
        ApiError::Invalid {
            group,
            kind,
            name,
            errors,
        } => {
            let causes: Vec<Value> = errors
                .iter()
                .map(|e| json!({"reason": e.cause_type(), "message": e.body(), "field": e.field}))
                .collect();
            let mut d = json!({"name": name, "kind": kind, "causes": causes});
            if !group.is_empty() {
                d["group"] = json!(group);
            }
            (422, "Invalid", Some(d))
        }
        ApiError::AccessDenied {
            group, resource, name, ..
        } => {
            // StatusDetails' fields are all omitempty.
            let mut d = json!({});
            for (k, v) in [("name", name), ("group", group), ("kind", resource)] {
                if !v.is_empty() {
                    d[k] = json!(v);
                }
            }
            (403, "Forbidden", Some(d))
        }
        ApiError::ApplyConflict(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| {
                    json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager),
                        "field": c.field})
                })
                .collect();
            (409, "Conflict", Some(json!({ "causes": causes })))
        }
        ApiError::BadRequest(_) => (400, "BadRequest", None),
        ApiError::MethodNotAllowed | ApiError::NotAllowed(_) => (405, "MethodNotAllowed", None),
        ApiError::Unauthorized => (401, "Unauthorized", None),
        ApiError::NoSuchResource => (404, "NotFound", Some(json!({}))),
        ApiError::Gone(_) => (410, "Expired", None),
        ApiError::UnsupportedMediaType(_) => (415, "UnsupportedMediaType", None),
        ApiError::NotAcceptable(_) => (406, "NotAcceptable", None),
        ApiError::TooLargeResourceVersion(m) => (
            504,
            "Timeout",
            Some(json!({"causes":[{"reason":"ResourceVersionTooLarge","message":m}],"retryAfterSeconds":1})),
        ),
        ApiError::Internal(m) => (500, "InternalError", Some(json!({"causes":[{"message": m}]}))),
        ApiError::Unavailable(_) => (503, "ServiceUnavailable", None),
    };
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    (code, status)
}

fn gr_details(gr: &crate::error::GroupResource, name: &str) -> Option<Value> {
    let mut d = json!({"name": name, "kind": gr.resource});
    if !gr.group.is_empty() {
        d["group"] = json!(gr.group);
    }
    Some(d)
}

/// A `Status` with status Success (e.g. for deletecollection or binding).
pub fn success(details: Option<Value>) -> Value {
    let mut s = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":200});
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GroupResource;

    #[test]
    fn statuses_carry_kubernetes_messages() {
        let gr = GroupResource {
            group: "apps",
            resource: "deployments",
        };
        let (code, s) = to_status(&ApiError::Conflict {
            resource: gr,
            name: "web".into(),
            message: "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        });
        assert_eq!(code, 409);
        assert_eq!(s["reason"], "Conflict");
        assert_eq!(
            s["message"],
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(s["details"], json!({"name":"web","group":"apps","kind":"deployments"}));
        let (code, s) = to_status(&ApiError::NotFound {
            resource: GroupResource {
                group: "",
                resource: "pods",
            },
            name: "x".into(),
        });
        assert_eq!((code, s["message"].as_str()), (404, Some("pods \"x\" not found")));
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["status"], "Failure");
    }
}
