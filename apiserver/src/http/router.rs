//! Top-level dispatch: health, version, metrics, discovery, OpenAPI, then
//! resource requests. Every request is counted; errors become `Status`.

use std::sync::Arc;
use std::time::Instant;

use http::Method;
use hyper::body::Incoming;
use serde_json::json;

use super::encoding::{error_response, output, respond, text};
use super::request_info::{parse, Target};
use super::{discovery, handlers, openapi, AppState, Response};
use crate::error::ApiError;

pub async fn route(state: Arc<AppState>, req: http::Request<Incoming>) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let out = output(req.headers());
    let wants_pb = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("protobuf"));
    let (verb, resource, resp) = match parse(&path) {
        Target::Resource(rp)
            if rp.group.is_empty() && super::kubelet_proxy::is_proxied(&rp.resource, rp.subresource.as_deref()) =>
        {
            let sub = rp.subresource.clone().unwrap_or_default();
            let ns = rp.namespace.clone().unwrap_or_default();
            let name = rp.name.clone().unwrap_or_default();
            let r = super::kubelet_proxy::proxy(&state, &ns, &name, &sub, req).await;
            (
                "proxy".to_string(),
                "pods".to_string(),
                r.unwrap_or_else(|e| error_response(&e, out)),
            )
        }
        Target::Resource(rp) => {
            let resource = rp.resource.clone();
            let row = crate::registry::resources::find(&rp.group, &rp.version, &rp.resource);
            let out = super::negotiate::error_output(req.headers(), row);
            let (verb, r) = handlers::handle(&state, rp, req).await;
            (verb, resource, r.unwrap_or_else(|e| error_response(&e, out)))
        }
        other => {
            let r = if method == Method::GET || method == Method::HEAD {
                let accept = req
                    .headers()
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                non_resource(&state, &path, other, out, wants_pb, &accept).await
            } else {
                Err(ApiError::MethodNotAllowed)
            };
            (
                method.as_str().to_lowercase(),
                String::new(),
                r.unwrap_or_else(|e| error_response(&e, out)),
            )
        }
    };
    let code = resp.status().as_u16();
    state
        .metrics
        .observe(&verb, &resource, code, started.elapsed().as_secs_f64());
    tracing::debug!(%method, %path, code, "request");
    resp
}

async fn non_resource(
    state: &AppState,
    path: &str,
    target: Target,
    out: super::encoding::Output,
    wants_pb: bool,
    accept: &str,
) -> Result<Response, ApiError> {
    match target {
        Target::Root { legacy } if discovery::wants_aggregated(accept) => {
            let body =
                serde_json::to_string(&discovery::aggregated(legacy)).map_err(|e| ApiError::Internal(e.to_string()))?;
            return Ok(text(200, body, discovery::AGGREGATED_V2));
        }
        Target::Root { legacy: true } => return Ok(respond(200, &discovery::api_versions(&state.advertise), out)),
        Target::Root { legacy: false } => return Ok(respond(200, &discovery::api_group_list(), out)),
        Target::Group(g) => {
            return discovery::api_group(&g)
                .map(|d| respond(200, &d, out))
                .ok_or(ApiError::NoSuchResource)
        }
        Target::GroupVersion { group, version } => {
            return discovery::resource_list(&group, &version)
                .map(|d| respond(200, &d, out))
                .ok_or(ApiError::NoSuchResource)
        }
        _ => {}
    }
    match path.trim_end_matches('/') {
        "/healthz" | "/livez" | "/healthz/ping" | "/livez/ping" => {
            Ok(text(200, "ok".into(), "text/plain; charset=utf-8"))
        }
        "/readyz" if !state.system_namespaces.load(std::sync::atomic::Ordering::Acquire) => Ok(text(
            500,
            "[-]poststarthook/start-system-namespaces-controller failed: not finished\nreadyz check failed\n".into(),
            "text/plain; charset=utf-8",
        )),
        "/readyz" if !state.bootstrap_roles.load(std::sync::atomic::Ordering::Acquire) => Ok(text(
            500,
            "[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n".into(),
            "text/plain; charset=utf-8",
        )),
        "/readyz" | "/healthz/etcd" | "/readyz/etcd" | "/livez/etcd" => {
            match state.store.etcd().get("/registry/health").await {
                Ok(_) => Ok(text(200, "ok".into(), "text/plain; charset=utf-8")),
                Err(e) => Ok(text(
                    500,
                    format!("[-]etcd failed: {e}\nreadyz check failed\n"),
                    "text/plain; charset=utf-8",
                )),
            }
        }
        "/version" => Ok(respond(200, &discovery::version(), out)),
        "/metrics" => Ok(text(200, state.metrics.render(), "text/plain; version=0.0.4")),
        "/openapi/v2" | "/swagger.json" => Ok(openapi_v2(out, wants_pb)),
        "/openapi/v3" => Ok(respond(200, &openapi::v3_index(), out)),
        "" => Ok(respond(
            200,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
            out,
        )),
        p => match p.strip_prefix("/openapi/v3/") {
            Some(gv) => openapi::v3_group_version(gv)
                .map(|d| respond(200, &d, out))
                .ok_or(ApiError::NoSuchResource),
            None => Err(ApiError::NoSuchResource),
        },
    }
}

/// kubectl asks for protobuf; curl and others get JSON.
fn openapi_v2(out: super::encoding::Output, wants_pb: bool) -> Response {
    if !wants_pb {
        return respond(200, &openapi::v2_json(), out);
    }
    let mut resp = http::Response::new(super::encoding::full(openapi::v2_protobuf()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(openapi::V2_CONTENT_TYPE),
    );
    resp
}
