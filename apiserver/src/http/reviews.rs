//! The create-only review resources (rows served `CreateOnly` in the resource table): a
//! POST is answered, never stored. authorization.k8s.io/v1 SubjectAccessReview,
//! SelfSubjectAccessReview, LocalSubjectAccessReview (the authorizer's decision for given
//! attributes), SelfSubjectRulesReview (the rules the requester has in a namespace:
//! `kubectl auth can-i --list`) and authentication.k8s.io/v1 TokenReview (the
//! authenticator's answer for a bearer token).

use serde_json::{json, Value};

use super::AppState;
use crate::authz::{Attributes, Decision, UserInfo};
use crate::error::{ApiError, Result};
use crate::registry::resources::ResourceInfo;
use crate::registry::validation::FieldError;

fn s(v: &Value, p: &str) -> String {
    v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string()
}

fn invalid(res: &ResourceInfo, errors: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        group: res.group,
        kind: res.kind,
        name: String::new(),
        errors,
    }
}

/// The attributes a review's spec asks about, for `user`.
fn spec_attributes(res: &ResourceInfo, spec: &Value, user: UserInfo) -> Result<Attributes> {
    let ra = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let na = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    match (ra, na) {
        (Some(ra), None) => Ok(Attributes {
            user,
            verb: s(ra, "/verb"),
            resource_request: true,
            api_group: s(ra, "/group"),
            api_version: s(ra, "/version"),
            namespace: s(ra, "/namespace"),
            resource: s(ra, "/resource"),
            subresource: s(ra, "/subresource"),
            name: s(ra, "/name"),
            ..Default::default()
        }),
        (None, Some(na)) => Ok(Attributes {
            user,
            verb: s(na, "/verb"),
            path: s(na, "/path"),
            ..Default::default()
        }),
        (Some(_), Some(_)) => Err(invalid(
            res,
            vec![FieldError::invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"].clone(),
                "cannot be specified in combination with resourceAttributes",
            )],
        )),
        (None, None) => Err(invalid(
            res,
            vec![FieldError::invalid(
                "spec.resourceAttributes",
                Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        )),
    }
}

/// The echoed object with its status.
fn answer(res: &ResourceInfo, mut obj: Value, status: Value) -> Value {
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    let mut meta = obj
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    meta["creationTimestamp"] = Value::Null;
    obj["metadata"] = meta;
    obj["status"] = status;
    obj
}

async fn access_status(state: &AppState, a: &Attributes) -> Value {
    let (d, reason) = state.authorizer.authorize(a).await;
    let mut st = json!({"allowed": d == Decision::Allow});
    if d == Decision::Deny {
        st["denied"] = json!(true);
    }
    if !reason.is_empty() {
        st["reason"] = json!(reason);
    }
    st
}

/// Answer a POST to a review resource in namespace `ns` from `user`.
pub async fn create(
    state: &AppState,
    res: &ResourceInfo,
    ns: Option<&str>,
    user: UserInfo,
    obj: Value,
) -> Result<Value> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    match res.plural {
        "subjectaccessreviews" => {
            let who = UserInfo {
                name: s(&spec, "/user"),
                uid: s(&spec, "/uid"),
                groups: spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| g.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default(),
            };
            if who.name.is_empty() && who.groups.is_empty() {
                return Err(invalid(
                    res,
                    vec![FieldError::invalid(
                        "spec.user",
                        json!(""),
                        "at least one of user or group must be specified",
                    )],
                ));
            }
            let a = spec_attributes(res, &spec, who)?;
            let st = access_status(state, &a).await;
            Ok(answer(res, obj, st))
        }
        "selfsubjectaccessreviews" => {
            let a = spec_attributes(res, &spec, user)?;
            let st = access_status(state, &a).await;
            Ok(answer(res, obj, st))
        }
        "localsubjectaccessreviews" => {
            let ns = ns.unwrap_or("");
            if spec.get("nonResourceAttributes").is_some_and(|v| !v.is_null()) {
                return Err(invalid(
                    res,
                    vec![FieldError::invalid(
                        "spec.nonResourceAttributes",
                        spec["nonResourceAttributes"].clone(),
                        "disallowed on this kind of request",
                    )],
                ));
            }
            if s(&spec, "/resourceAttributes/namespace") != ns {
                return Err(ApiError::BadRequest(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            let who = UserInfo {
                name: s(&spec, "/user"),
                uid: s(&spec, "/uid"),
                groups: spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| g.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default(),
            };
            let a = spec_attributes(res, &spec, who)?;
            let st = access_status(state, &a).await;
            Ok(answer(res, obj, st))
        }
        "selfsubjectrulesreviews" => {
            let set = state.authorizer.rules_for(&user, &s(&spec, "/namespace")).await;
            let resource_rules: Vec<Value> = set
                .rules
                .iter()
                .filter(|r| !r.resources.is_empty())
                .map(|r| {
                    let mut o = json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
                    if !r.resource_names.is_empty() {
                        o["resourceNames"] = json!(r.resource_names);
                    }
                    o
                })
                .collect();
            let non_resource_rules: Vec<Value> = set
                .rules
                .iter()
                .filter(|r| !r.non_resource_urls.is_empty())
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            let mut st = json!({
                "resourceRules": resource_rules,
                "nonResourceRules": non_resource_rules,
                "incomplete": set.incomplete,
            });
            match set.errors.as_slice() {
                [] => {}
                [one] => st["evaluationError"] = json!(one),
                many => st["evaluationError"] = json!(format!("[{}]", many.join(", "))),
            }
            Ok(answer(res, obj, st))
        }
        "tokenreviews" => {
            let token = s(&spec, "/token");
            let who = match token.as_str() {
                "" => None,
                t => super::secure::authenticate_token(&state.authenticator, &state.store, t).await,
            };
            let st = match who {
                Some(u) => {
                    json!({"authenticated": true, "user": {"username": u.name, "uid": u.uid, "groups": u.groups}})
                }
                None => json!({"user": {}}),
            };
            Ok(answer(res, obj, st))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
