//! Resource verbs: GET/LIST/WATCH/POST/PUT/PATCH/DELETE on the generic store.
//!
//! Decodes query and body, picks the resource row, calls `Store`, renders
//! JSON/YAML/protobuf (`negotiate`) or a Table. No resource-specific code lives here except the
//! subresources that are routes (pods/binding, namespaces/finalize).

use std::sync::Arc;

use http::Method;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::encoding::{parse_body, query, respond, Output};
use super::request_info::ResourcePath;
use super::secure::UserInfo;
use super::table::{table, Include};
use super::{AppState, Response};
use crate::authz::node_restriction::{self, Operation, Request as NrRequest};
use crate::error::{ApiError, Result};
use crate::registry::field_validation::{self, Mode};
use crate::registry::generic::{DeleteOptions, ListOptions, ListResult, Propagation};
use crate::registry::managed_fields::{self, FieldOwner};
use crate::registry::patch::{self, PatchType};
use crate::registry::resources::{find, ResourceInfo, Subresource};
use crate::registry::selector::{FieldSelector, LabelSelector, Predicate};
use crate::registry::validation::FieldError;
use crate::registry::{binding, meta, namespace_lifecycle, scale};

const MAX_BODY: usize = 3 * 1024 * 1024;

/// Run one resource request; returns the verb (for metrics) and the response.
pub async fn handle(
    state: &Arc<AppState>,
    rp: ResourcePath,
    req: http::Request<Incoming>,
) -> (String, Result<Response>) {
    let q = query(req.uri().query());
    let is_watch = rp.watch_prefix || q.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (req.method(), rp.name.is_some()) {
        (&Method::GET, false) if is_watch => "watch",
        (&Method::GET, true) if is_watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    };
    (verb.to_string(), dispatch(state, rp, req, q, verb).await)
}

async fn read_body(req: http::Request<Incoming>) -> Result<(http::HeaderMap, Vec<u8>)> {
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::BadRequest(format!("unable to read request body: {e}")))?
        .to_bytes();
    Ok((parts.headers, bytes.to_vec()))
}

fn sub_of(res: &ResourceInfo, rp: &ResourcePath) -> Result<Option<Subresource>> {
    match rp.subresource.as_deref() {
        None => Ok(None),
        Some(s) => res
            .subresources
            .iter()
            .copied()
            .find(|x| x.name() == s)
            .map(Some)
            .ok_or(ApiError::NoSuchResource),
    }
}

fn predicate(res: &ResourceInfo, q: &std::collections::HashMap<String, String>) -> Result<Predicate> {
    let label =
        LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")).map_err(ApiError::BadRequest)?;
    let field = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""), res.fields)
        .map_err(ApiError::BadRequest)?;
    Ok(Predicate { label, field })
}

fn dry_run(q: &std::collections::HashMap<String, String>) -> Result<bool> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Invalid dry run value: {other:?}: supported values: \"All\""
        ))),
    }
}

/// A Scale body's resourceVersion must match the object's (optimistic lock).
fn check_scale_rv(res: &ResourceInfo, name: &str, cur: &Value, scale: &Value) -> Result<()> {
    match meta::resource_version(scale) {
        Some(rv) if Some(rv) != meta::resource_version(cur) => Err(ApiError::Conflict {
            resource: res.group_resource(),
            name: name.to_string(),
            message: "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// Add `Warning: 299 - "..."` headers (fieldValidation=Warn).
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

async fn dispatch(
    state: &Arc<AppState>,
    rp: ResourcePath,
    req: http::Request<Incoming>,
    q: std::collections::HashMap<String, String>,
    verb: &str,
) -> Result<Response> {
    let res = find(&rp.group, &rp.version, &rp.resource).ok_or(ApiError::NoSuchResource)?;
    let sub = sub_of(res, &rp)?;
    let ns = if res.namespaced { rp.namespace.clone() } else { None };
    let negotiated = super::negotiate::for_resource(req.headers(), res, verb == "watch")?;
    let (out, as_table) = (negotiated.out, negotiated.table);
    let include = Include::parse(q.get("includeObject").map(String::as_str));
    let store = &state.store;
    let name = rp.name.clone().unwrap_or_default();
    // The managedFields manager: ?fieldManager= or the user agent's prefix (kube's
    // managerOrUserAgent).
    let manager = q.get("fieldManager").cloned().unwrap_or_else(|| {
        let ua = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        managed_fields::manager_from_user_agent(ua.unwrap_or(""))
    });
    let owner = FieldOwner::Update {
        manager: manager.clone(),
        subresource: sub.is_some(),
        before_admission: None,
    };
    let user = req
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::unsecured);
    if res.serving == crate::registry::resources::Serving::ComputedReadOnly {
        return super::componentstatus::serve(state, res, verb, rp.name.as_deref(), as_table, include, out).await;
    }
    if res.create_only() {
        if verb != "create" || rp.name.is_some() || sub.is_some() {
            return Err(ApiError::MethodNotAllowed);
        }
        let (headers, body) = read_body(req).await?;
        let obj = parse_body(&headers, &body)?;
        let answer = super::reviews::create(state, res, ns.as_deref(), user, obj).await?;
        return Ok(respond(201, &answer, out));
    }
    // NodeRestriction's view of a write (None: the plugin is off).
    let ns_str = ns.clone().unwrap_or_default();
    let sub_name = sub.map(Subresource::name).unwrap_or("");
    let admission = |op: Operation, object: Option<&Value>, old: Option<&Value>| -> Result<()> {
        if !state.node_restriction {
            return Ok(());
        }
        node_restriction::admit_update(&NrRequest {
            user: &user,
            op,
            group: res.group,
            resource: res.plural,
            subresource: sub_name,
            namespace: &ns_str,
            name: &name,
            object,
            old,
        })
    };
    let admit_write = |op: Operation, object: Option<Value>| {
        let (user, ns_str, name) = (&user, &ns_str, &name);
        async move {
            if !state.node_restriction {
                return Ok(());
            }
            node_restriction::admit(
                &state.store,
                &NrRequest {
                    user,
                    op,
                    group: res.group,
                    resource: res.plural,
                    subresource: sub_name,
                    namespace: ns_str,
                    name,
                    object: object.as_ref(),
                    old: None,
                },
            )
            .await
        }
    };
    match verb {
        "watch" => {
            let mut pred = predicate(res, &q)?;
            if rp.name.is_some() {
                pred.field =
                    FieldSelector::parse(&format!("metadata.name={name}"), res.fields).map_err(ApiError::BadRequest)?;
            }
            super::watch::serve(state.clone(), res, ns, pred, &q, as_table, include, out).await
        }
        "list" => {
            let limit = match q.get("limit").map(String::as_str) {
                None | Some("") => 0,
                Some(l) => l
                    .parse::<i64>()
                    .map_err(|_| ApiError::BadRequest(format!("invalid limit: {l}")))?,
            };
            let opts = ListOptions {
                predicate: predicate(res, &q)?,
                limit,
                continue_token: q.get("continue").cloned().filter(|c| !c.is_empty()),
                resource_version: q.get("resourceVersion").cloned(),
                resource_version_match: q.get("resourceVersionMatch").cloned().filter(|c| !c.is_empty()),
            };
            let list = store.list(res, ns.as_deref(), &opts).await?;
            Ok(render_list(res, list, as_table, include, out))
        }
        "get" => {
            let obj = store.get(res, ns.as_deref(), &name).await?;
            if sub == Some(Subresource::Scale) {
                return Ok(respond(200, &scale::to_scale(res, &obj), out));
            }
            Ok(render_one(res, &obj, 200, as_table, include, out))
        }
        "create" => {
            let mode = Mode::parse(q.get("fieldValidation").map(String::as_str))?;
            let dry = dry_run(&q)?;
            let (headers, body) = read_body(req).await?;
            let mut obj = parse_body(&headers, &body)?;
            if res.plural == "certificatesigningrequests" {
                // Who asked is recorded by the server, never taken from the body.
                obj["spec"]["username"] = serde_json::json!(user.name);
                obj["spec"]["uid"] = serde_json::json!(user.uid);
                obj["spec"]["groups"] = serde_json::json!(user.groups);
            }
            if sub == Some(Subresource::Binding) {
                let ns = ns.unwrap_or_default();
                binding::bind(store, &ns, &name, &obj, dry).await?;
                return Ok(respond(201, &super::status::success(None), out));
            }
            if rp.name.is_some() || sub.is_some() {
                return Err(ApiError::MethodNotAllowed);
            }
            if res.is_custom() && crate::registry::crd::terminating(res) {
                return Err(ApiError::NotAllowed(
                    "create not allowed while custom resource definition is terminating".into(),
                ));
            }
            let warnings = field_validation::check(res, &mut obj, mode)?;
            let owner = FieldOwner::Update {
                manager: manager.clone(),
                subresource: false,
                before_admission: Some(obj.clone()),
            };
            admit_write(Operation::Create, Some(obj.clone())).await?;
            if res.plural == "pods" && res.group.is_empty() {
                let pod_ns = ns.clone().unwrap_or_default();
                crate::registry::service_account::admit_pod(store, &pod_ns, &mut obj, state.require_sa_token).await?;
            }
            state
                .admission
                .admit_create(store, res, ns.as_deref(), &mut obj, dry)
                .await?;
            let created = create_service_aware(state, res, ns.as_deref(), obj, dry, &owner).await?;
            if res.plural == "namespaces" && !dry {
                namespace_lifecycle::ensure_default_service_account(store, meta::name(&created)).await?;
            }
            Ok(with_warnings(
                render_one(res, &created, 201, as_table, include, out),
                &warnings,
            ))
        }
        "update" => {
            let mode = Mode::parse(q.get("fieldValidation").map(String::as_str))?;
            let dry = dry_run(&q)?;
            let (headers, body) = read_body(req).await?;
            let mut obj = parse_body(&headers, &body)?;
            if rp.name.is_none() || sub == Some(Subresource::Binding) {
                return Err(ApiError::MethodNotAllowed);
            }
            if sub == Some(Subresource::Scale) {
                let updated = store
                    .update(res, ns.as_deref(), &name, None, dry, |cur| {
                        check_scale_rv(res, &name, cur, &obj)?;
                        let mut o = cur.clone();
                        scale::apply_scale(res, &mut o, &obj)?;
                        Ok(o)
                    })
                    .await?;
                return Ok(respond(200, &scale::to_scale(res, &updated), out));
            }
            let warnings = field_validation::check(res, &mut obj, mode)?;
            let updated = store
                .update_owned(res, ns.as_deref(), &name, sub, dry, &owner, |cur| {
                    admission(Operation::Update, Some(&obj), Some(cur))?;
                    Ok(obj.clone())
                })
                .await?;
            Ok(with_warnings(
                render_one(res, &updated, 200, as_table, include, out),
                &warnings,
            ))
        }
        "patch" => {
            let mode = Mode::parse(q.get("fieldValidation").map(String::as_str))?;
            let dry = dry_run(&q)?;
            let ct = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let kind = PatchType::from_content_type(&ct).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
                ))
            })?;
            if res.is_custom() && kind == PatchType::Strategic {
                // kube-apiserver: custom resources have no strategic merge patch.
                return Err(ApiError::UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
                ));
            }
            let force = patch_options(kind, &q, &manager)?;
            let (_, body) = read_body(req).await?;
            let patch_doc: Value = if kind == PatchType::Apply {
                serde_norway::from_slice(&body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?
            } else {
                serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?
            };
            if sub == Some(Subresource::Scale) {
                let updated = store
                    .update(res, ns.as_deref(), &name, None, dry, |cur| {
                        let patched =
                            patch::apply(kind, &scale::to_scale(res, cur), &patch_doc).map_err(ApiError::BadRequest)?;
                        check_scale_rv(res, &name, cur, &patched)?;
                        let mut o = cur.clone();
                        scale::apply_scale(res, &mut o, &patched)?;
                        Ok(o)
                    })
                    .await?;
                return Ok(respond(200, &scale::to_scale(res, &updated), out));
            }
            let mut warnings = Vec::new();
            let ty = managed_fields::type_of(res);
            let api_version = res.api_version();
            let server_side_apply = |live: &Value| -> Result<Value> {
                let now = meta::now_rfc3339();
                Ok(managed_fields::apply(
                    ty,
                    live,
                    &patch_doc,
                    &manager,
                    force,
                    &api_version,
                    &now,
                )?)
            };
            let patch_owner = if kind == PatchType::Apply {
                FieldOwner::Computed
            } else {
                owner.clone()
            };
            let result = store
                .update_owned(res, ns.as_deref(), &name, sub, dry, &patch_owner, |cur| {
                    let mut patched = match kind {
                        PatchType::Apply => server_side_apply(cur)?,
                        _ => patch::apply(kind, cur, &patch_doc).map_err(ApiError::BadRequest)?,
                    };
                    warnings = field_validation::check(res, &mut patched, mode)?;
                    admission(Operation::Update, Some(&patched), Some(cur))?;
                    Ok(patched)
                })
                .await;
            match result {
                Err(ApiError::NotFound { .. }) if kind == PatchType::Apply && sub.is_none() => {
                    let mut obj = server_side_apply(&json!({}))?;
                    let warnings = field_validation::check(res, &mut obj, mode)?;
                    admit_write(Operation::Create, Some(obj.clone())).await?;
                    if res.plural == "pods" && res.group.is_empty() {
                        let pod_ns = ns.clone().unwrap_or_default();
                        crate::registry::service_account::admit_pod(store, &pod_ns, &mut obj, state.require_sa_token)
                            .await?;
                    }
                    state
                        .admission
                        .admit_create(store, res, ns.as_deref(), &mut obj, dry)
                        .await?;
                    let created = create_service_aware(state, res, ns.as_deref(), obj, dry, &patch_owner).await?;
                    Ok(with_warnings(
                        render_one(res, &created, 201, as_table, include, out),
                        &warnings,
                    ))
                }
                r => Ok(with_warnings(
                    render_one(res, &r?, 200, as_table, include, out),
                    &warnings,
                )),
            }
        }
        "delete" => {
            let (headers, body) = read_body(req).await?;
            let opts = delete_options(&q, &headers, &body)?;
            admit_write(Operation::Delete, None).await?;
            let obj = store.delete(res, ns.as_deref(), &name, &opts).await?;
            if res.plural == "namespaces" && meta::is_deleting(&obj) && !opts.dry_run {
                namespace_lifecycle::spawn_finalize(store.clone(), name.clone(), state.service_ranges.clone());
            }
            if is_service(res) && !meta::is_deleting(&obj) && !opts.dry_run {
                state
                    .service_ranges
                    .release(store, &state.service_ranges.held(&obj))
                    .await;
            }
            Ok(render_one(res, &obj, 200, false, include, out))
        }
        "deletecollection" => {
            let (headers, body) = read_body(req).await?;
            let opts = delete_options(&q, &headers, &body)?;
            let lopts = ListOptions {
                predicate: predicate(res, &q)?,
                ..Default::default()
            };
            let list = store.list(res, ns.as_deref(), &lopts).await?;
            let mut items = Vec::new();
            for item in list.items {
                let n = meta::name(&item).to_string();
                let item_ns = meta::namespace(&item).map(String::from);
                match store.delete(res, item_ns.as_deref(), &n, &opts).await {
                    Ok(o) => {
                        if is_service(res) && !meta::is_deleting(&o) && !opts.dry_run {
                            state
                                .service_ranges
                                .release(store, &state.service_ranges.held(&o))
                                .await;
                        }
                        items.push(o)
                    }
                    Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let list = ListResult {
                items,
                revision: list.revision,
                continue_token: None,
                remaining: None,
            };
            Ok(render_list(res, list, false, include, out))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// PatchOptions checks (kube's ValidatePatchOptions): apply needs a fieldManager, `force`
/// is for apply only. Returns `force`.
fn patch_options(kind: PatchType, q: &std::collections::HashMap<String, String>, manager: &str) -> Result<bool> {
    let invalid = |e: FieldError| ApiError::Invalid {
        group: "meta.k8s.io",
        kind: "PatchOptions",
        name: String::new(),
        errors: vec![e],
    };
    let force = q.get("force");
    if kind != PatchType::Apply {
        if force.is_some() {
            return Err(invalid(FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )));
        }
        return Ok(false);
    }
    if q.get("fieldManager").is_none_or(|m| m.is_empty()) || manager.is_empty() {
        return Err(invalid(FieldError::required(
            "fieldManager",
            "is required for apply patch",
        )));
    }
    match force.map(String::as_str) {
        None | Some("false") | Some("") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!("invalid force value {other:?}"))),
    }
}

fn delete_options(
    q: &std::collections::HashMap<String, String>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<DeleteOptions> {
    let b = if body.is_empty() {
        Value::Null
    } else {
        parse_body(headers, body)?
    };
    let grace = q
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<i64>().ok())
        .or_else(|| b.get("gracePeriodSeconds").and_then(Value::as_i64));
    let dry = dry_run(q)?
        || b.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let (propagation, orphan_false) = propagation(q, &b)?;
    Ok(DeleteOptions {
        propagation,
        orphan_false,
        grace_period: grace,
        precondition_uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        precondition_rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run: dry,
    })
}

fn is_service(res: &ResourceInfo) -> bool {
    res.group.is_empty() && res.plural == "services"
}

/// Store a new object; a Service first takes its ClusterIP and nodePorts from the shared range
/// bitmaps, and gives them back if it is not stored.
async fn create_service_aware(
    state: &AppState,
    res: &ResourceInfo,
    ns: Option<&str>,
    mut obj: Value,
    dry: bool,
    owner: &crate::registry::managed_fields::FieldOwner,
) -> Result<Value> {
    if !is_service(res) {
        return state.store.create_owned(res, ns, obj, dry, owner).await;
    }
    // Defaults first: the type decides what is allocated.
    res.strategy.defaults(&mut obj);
    let taken = state.service_ranges.allocate(&state.store, &mut obj, dry).await?;
    match state.store.create_owned(res, ns, obj, dry, owner).await {
        Ok(created) => Ok(created),
        Err(e) => {
            state.service_ranges.release(&state.store, &taken).await;
            Err(e)
        }
    }
}

/// `propagationPolicy` / `orphanDependents` from the query or the DeleteOptions body, checked
/// as kube's ValidateDeleteOptions does.
fn propagation(q: &std::collections::HashMap<String, String>, b: &Value) -> Result<(Option<Propagation>, bool)> {
    let policy = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| b.get("propagationPolicy").and_then(Value::as_str).map(String::from));
    let orphan = match q.get("orphanDependents") {
        Some(v) => Some(v == "true"),
        None => b.get("orphanDependents").and_then(Value::as_bool),
    };
    let invalid = |e: FieldError| ApiError::Invalid {
        group: "meta.k8s.io",
        kind: "DeleteOptions",
        name: String::new(),
        errors: vec![e],
    };
    if let (Some(p), Some(_)) = (&policy, orphan) {
        return Err(invalid(FieldError::invalid(
            "propagationPolicy",
            json!(p),
            "orphanDependents and deletionPropagation cannot be both set",
        )));
    }
    let parsed = match policy.as_deref() {
        None => None,
        Some("Orphan") => Some(Propagation::Orphan),
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some(other) => {
            return Err(invalid(FieldError::not_supported(
                "propagationPolicy",
                json!(other),
                &["Foreground", "Background", "Orphan", "nil"],
            )))
        }
    };
    Ok(match orphan {
        Some(true) => (Some(Propagation::Orphan), false),
        Some(false) => (None, true),
        None => (parsed, false),
    })
}

fn render_one(res: &ResourceInfo, obj: &Value, code: u16, as_table: bool, include: Include, out: Output) -> Response {
    if as_table {
        let rv = meta::meta_str(obj, "resourceVersion").unwrap_or("").to_string();
        let t = table(
            res,
            std::slice::from_ref(obj),
            json!({"resourceVersion": rv}),
            include,
            true,
        );
        return respond(code, &t, out);
    }
    respond(code, obj, out)
}

fn render_list(res: &ResourceInfo, list: ListResult, as_table: bool, include: Include, out: Output) -> Response {
    let mut lm = json!({"resourceVersion": list.revision.to_string()});
    if let Some(c) = &list.continue_token {
        lm["continue"] = json!(c);
    }
    if let Some(r) = list.remaining {
        lm["remainingItemCount"] = json!(r);
    }
    if as_table {
        return respond(200, &table(res, &list.items, lm, include, true), out);
    }
    let body = json!({
        "kind": res.list_kind(),
        "apiVersion": res.api_version(),
        "metadata": lm,
        "items": list.items,
    });
    respond(200, &body, out)
}
