//! Query strings, request bodies (JSON, YAML or protobuf) and response encoding
//! (JSON, YAML, or kube's `k8s\0` protobuf envelope; negotiation in `negotiate`).

use std::collections::HashMap;

use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::{Body, Response};
use crate::error::{ApiError, Result};

/// Decoded query parameters (last value wins).
pub fn query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.insert(dec(k), dec(v));
    }
    out
}

/// Parse a request body as JSON, or YAML when the Content-Type says so.
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::storage::protobuf::decode_envelope(body)
            .map_err(|e| ApiError::BadRequest(format!("unable to decode protobuf request body: {e}")));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if ct.contains("yaml") {
        return serde_norway::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}")))
}

/// How the client wants the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (JSON for an object without a schema row).
    Protobuf,
}

/// JSON or YAML for non-resource paths (discovery, version, errors of unknown paths).
pub fn output(headers: &HeaderMap) -> Output {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept.split(',').next().unwrap_or("").trim();
    if first.starts_with("application/yaml") {
        Output::Yaml
    } else {
        Output::Json
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A response with `obj` encoded as the client asked.
pub fn respond(code: u16, obj: &Value, out: Output) -> Response {
    let (ct, bytes) = match out {
        Output::Yaml => match serde_norway::to_string(obj) {
            Ok(s) => ("application/yaml", s.into_bytes()),
            Err(_) => ("application/json", serde_json::to_vec(obj).unwrap_or_default()),
        },
        Output::Protobuf => match crate::storage::protobuf::encode_envelope(obj) {
            Ok(Some(bytes)) => (super::negotiate::PROTOBUF, bytes),
            _ => ("application/json", serde_json::to_vec(obj).unwrap_or_default()),
        },
        Output::Json => ("application/json", serde_json::to_vec(obj).unwrap_or_default()),
    };
    let mut resp = http::Response::new(full(bytes));
    *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(ct) {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    resp
}

/// Plain text (health checks, metrics).
pub fn text(code: u16, body: String, content_type: &'static str) -> Response {
    let mut resp = http::Response::new(full(body));
    *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
    resp.headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    resp
}

/// The error as a Status response.
pub fn error_response(err: &ApiError, out: Output) -> Response {
    let (code, status) = super::status::to_status(err);
    // A failed negotiation is written as JSON, as kube's WriteRawJSON does.
    let out = if matches!(err, ApiError::NotAcceptable(_)) {
        Output::Json
    } else {
        out
    };
    let mut resp = respond(code, &status, out);
    if matches!(err, ApiError::TooLargeResourceVersion(_)) {
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=500&watch"));
        assert_eq!(q.get("labelSelector").map(String::as_str), Some("app=web,tier in (a)"));
        assert_eq!(q.get("limit").map(String::as_str), Some("500"));
        assert_eq!(q.get("watch").map(String::as_str), Some(""));
    }

    #[test]
    fn yaml_negotiation() {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, http::HeaderValue::from_static(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert_eq!(output(&h), Output::Json);
        h.insert(http::header::ACCEPT, http::HeaderValue::from_static("application/yaml"));
        assert_eq!(output(&h), Output::Yaml);
    }
}
