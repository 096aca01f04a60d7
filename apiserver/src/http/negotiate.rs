//! Accept-header content negotiation for resource endpoints, as kube-apiserver 1.20's
//! `negotiation.NegotiateOutputMediaType`: goautoneg's clause parsing and ordering (q-values,
//! wildcards last), the first clause an endpoint can serve wins, `as=Table` only in JSON or
//! YAML, and NotAcceptable (406) with kube's message when no clause can be served.
//!
//! An endpoint serves protobuf when its kind has a row in the schema table (built-in kinds);
//! custom resources and kinds without a schema serve JSON and YAML only, like kube's
//! custom-resource handler (its `StandardSerializers`).

use http::HeaderMap;

use super::encoding::Output;
use crate::error::ApiError;
use crate::registry::resources::ResourceInfo;

/// Media types of built-in endpoints, in kube's order (the 406 message lists them).
const MEDIA_TYPES: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";
const STREAM_MEDIA_TYPES: &str = "application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch";

/// The content type of protobuf responses.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// What a response is encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub out: Output,
    /// `as=Table;g=meta.k8s.io;v=v1|v1beta1` was the accepted clause.
    pub table: bool,
}

/// One Accept clause as goautoneg parses it.
#[derive(Debug, Clone)]
struct Clause {
    q: f64,
    ty: String,
    sub: String,
    params: Vec<(String, String)>,
}

impl Clause {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// goautoneg.ParseAccept: clauses without a valid `type/subtype` are dropped, `*` alone is
/// `*/*`, `q` is a weight (default 1), then an insertion sort by "higher q, or concrete type
/// before a wildcard" (stable, as Go's sort.Sort is on short slices).
fn parse_accept(header: &str) -> Vec<Clause> {
    let mut out: Vec<Clause> = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("").trim();
        let (ty, sub) = match range.split('/').collect::<Vec<_>>().as_slice() {
            ["*"] => ("*".to_string(), "*".to_string()),
            [t, s] => (t.trim().to_string(), s.trim().to_string()),
            _ => continue,
        };
        let mut c = Clause {
            q: 1.0,
            ty,
            sub,
            params: Vec::new(),
        };
        for p in pieces {
            let kv: Vec<&str> = p.split('=').collect();
            let [k, v] = kv.as_slice() else { continue };
            let k = k.trim();
            if k == "q" {
                c.q = v.trim().parse().unwrap_or(0.0);
            } else {
                c.params.push((k.to_string(), v.trim().to_string()));
            }
        }
        out.push(c);
    }
    let less = |a: &Clause, b: &Clause| a.q > b.q || (a.ty != "*" && b.ty == "*") || (a.sub != "*" && b.sub == "*");
    for i in 1..out.len() {
        let mut j = i;
        while j > 0 && less(&out[j], &out[j - 1]) {
            out.swap(j, j - 1);
            j -= 1;
        }
    }
    out
}

/// Whether `res` is served in protobuf (a built-in kind with a schema row).
pub fn serves_protobuf(res: &ResourceInfo) -> bool {
    !res.is_custom() && crate::schema::kind_message(&res.api_version(), res.kind).is_some()
}

/// Negotiate the response of a request on `res` (`stream`: a watch).
pub fn for_resource(headers: &HeaderMap, res: &ResourceInfo, stream: bool) -> Result<Negotiated, ApiError> {
    let accept = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    negotiate(&accept, serves_protobuf(res), stream)
}

/// The encoding of an error Status for a request on `res` (JSON when nothing else fits, as
/// kube writes a failed negotiation's error).
pub fn error_output(headers: &HeaderMap, res: Option<&ResourceInfo>) -> Output {
    match res {
        Some(r) => for_resource(headers, r, false).map_or(Output::Json, |n| n.out),
        None => super::encoding::output(headers),
    }
}

fn negotiate(accept: &str, protobuf: bool, stream: bool) -> Result<Negotiated, ApiError> {
    let not_acceptable = || {
        ApiError::NotAcceptable(format!(
            "only the following media types are accepted: {}",
            if stream { STREAM_MEDIA_TYPES } else { MEDIA_TYPES }
        ))
    };
    let chosen = if accept.trim().is_empty() {
        Some(Negotiated {
            out: Output::Json,
            table: false,
        })
    } else {
        parse_accept(accept).iter().find_map(|c| accept_clause(c, protobuf))
    };
    match chosen {
        // YAML has no stream serializer: a watch cannot be served in it.
        Some(n) if stream && n.out == Output::Yaml => Err(not_acceptable()),
        Some(n) => Ok(n),
        None => Err(not_acceptable()),
    }
}

/// The first of kube's media types (json, yaml, protobuf) this clause matches and the
/// endpoint allows with the clause's parameters.
fn accept_clause(c: &Clause, protobuf: bool) -> Option<Negotiated> {
    [
        ("json", Output::Json),
        ("yaml", Output::Yaml),
        ("vnd.kubernetes.protobuf", Output::Protobuf),
    ]
    .into_iter()
    .filter(|(sub, _)| (c.ty == "application" && (c.sub == *sub || c.sub == "*")) || (c.ty == "*" && c.sub == "*"))
    .find_map(|(_, out)| allowed(c, out, protobuf).map(|table| Negotiated { out, table }))
}

/// kube's acceptMediaTypeOptions + RequestScope.AllowsMediaTypeTransform: Some(as Table?)
/// when the endpoint can serve `out` with the clause's parameters.
fn allowed(c: &Clause, out: Output, protobuf: bool) -> Option<bool> {
    if c.param("stream")
        .is_some_and(|s| !s.is_empty() && (s != "watch" || out == Output::Yaml))
    {
        return None;
    }
    if c.param("sv").is_some_and(|v| !v.is_empty() && v != "v1") {
        return None;
    }
    let convert = ["as", "g", "v"].iter().any(|k| c.param(k).is_some());
    if !convert {
        return (out != Output::Protobuf || protobuf).then_some(false);
    }
    let meta = c.param("g") == Some("meta.k8s.io") && matches!(c.param("v"), Some("v1" | "v1beta1"));
    // Tables are JSON or YAML only in 1.20; PartialObjectMetadata is not served here, so a
    // client asking for it falls through to its next clause.
    (meta && c.param("as") == Some("Table") && out != Output::Protobuf).then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(accept: &str, pb: bool) -> Result<(Output, bool), String> {
        negotiate(accept, pb, false)
            .map(|n| (n.out, n.table))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn client_go_defaults() {
        let a = "application/vnd.kubernetes.protobuf, application/json";
        assert_eq!(neg(a, true), Ok((Output::Protobuf, false)));
        assert_eq!(neg(a, false), Ok((Output::Json, false)));
        assert_eq!(neg("", true), Ok((Output::Json, false)));
        assert_eq!(neg("*/*", true), Ok((Output::Json, false)));
        assert_eq!(neg("application/*", true), Ok((Output::Json, false)));
        assert_eq!(neg("application/yaml", true), Ok((Output::Yaml, false)));
    }

    #[test]
    fn q_values_and_wildcards_order_clauses() {
        let a = "application/json;q=0.5, application/vnd.kubernetes.protobuf";
        assert_eq!(neg(a, true), Ok((Output::Protobuf, false)));
        assert_eq!(neg("*/*, application/yaml", true), Ok((Output::Yaml, false)));
        assert_eq!(
            neg("application/yaml;q=0.1, */*;q=0.9", true),
            Ok((Output::Json, false))
        );
        assert_eq!(
            neg("application/json;q=0, application/yaml;q=0", true),
            Ok((Output::Json, false))
        );
    }

    #[test]
    fn tables_are_json_or_yaml_only() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(neg(kubectl, true), Ok((Output::Json, true)));
        let pb = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json";
        assert_eq!(neg(pb, true), Ok((Output::Json, false)));
        let only = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(
            neg(only, true),
            Err("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf".into())
        );
        let pom =
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(neg(pom, true), Ok((Output::Json, false)));
    }

    #[test]
    fn not_acceptable() {
        assert!(neg("text/html", true).is_err());
        assert!(neg("application/vnd.kubernetes.protobuf", false).is_err());
        let w = negotiate("application/yaml", true, true).map_err(|e| e.to_string());
        assert_eq!(
            w,
            Err("only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch".into())
        );
        let w = negotiate("application/vnd.kubernetes.protobuf;stream=watch", true, true).map(|n| n.out);
        assert_eq!(w.ok(), Some(Output::Protobuf));
    }
}
