//! Parse a request path into what it addresses (k8s RequestInfoFactory).
//!
//! `/api/v1/...` and `/apis/<group>/<version>/...`, an optional legacy
//! `watch/` segment, `namespaces/<ns>/<resource>[/<name>[/<subresource>]]`
//! or `<resource>[/<name>[/<subresource>]]`; `namespaces/<ns>` itself and
//! its `status`/`finalize` subresources address the namespace object.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub watch_prefix: bool,
}

/// What a path is: discovery, a resource, or something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api` or `/apis`.
    Root {
        legacy: bool,
    },
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    Other,
}

pub fn parse(path: &str) -> Target {
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
        .collect();
    let (group, version, rest) = match parts.first().map(String::as_str) {
        Some("api") => match parts.len() {
            1 => return Target::Root { legacy: true },
            2 => {
                return Target::GroupVersion {
                    group: String::new(),
                    version: parts[1].clone(),
                }
            }
            _ => (String::new(), parts[1].clone(), &parts[2..]),
        },
        Some("apis") => match parts.len() {
            1 => return Target::Root { legacy: false },
            2 => return Target::Group(parts[1].clone()),
            3 => {
                return Target::GroupVersion {
                    group: parts[1].clone(),
                    version: parts[2].clone(),
                }
            }
            _ => (parts[1].clone(), parts[2].clone(), &parts[3..]),
        },
        _ => return Target::Other,
    };
    let mut rest: Vec<String> = rest.to_vec();
    let mut rp = ResourcePath {
        group,
        version,
        ..Default::default()
    };
    if rest.first().map(String::as_str) == Some("watch") {
        rp.watch_prefix = true;
        rest.remove(0);
    }
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
        rp.namespace = Some(rest[1].clone());
        let ns_sub = rest.get(2).is_some_and(|s| s == "status" || s == "finalize");
        if rest.len() > 2 && !ns_sub {
            rest.drain(..2);
        }
    }
    rp.resource = rest.first().cloned().unwrap_or_default();
    rp.name = rest.get(1).cloned();
    rp.subresource = rest.get(2).cloned();
    if rest.len() > 3 || rp.resource.is_empty() {
        return Target::Other;
    }
    Target::Resource(rp)
}

/// kube's RequestInfoFactory verbs and names, for the authorizer: resource requests get
/// get/list/watch/create/update/patch/delete/deletecollection (a list or watch naming one
/// object with `fieldSelector=metadata.name=<n>` carries that name), others the
/// lower-cased HTTP method and the path.
pub fn attributes(user: crate::authz::UserInfo, method: &http::Method, path: &str, query: Option<&str>) -> Attributes {
    let mut a = Attributes {
        user,
        verb: method.as_str().to_lowercase(),
        path: path.to_string(),
        ..Default::default()
    };
    let Target::Resource(rp) = parse(path) else {
        return a;
    };
    a.resource_request = true;
    a.api_group = rp.group;
    a.api_version = rp.version;
    a.namespace = rp.namespace.unwrap_or_default();
    a.resource = rp.resource;
    a.name = rp.name.unwrap_or_default();
    a.subresource = rp.subresource.unwrap_or_default();
    a.verb = if rp.watch_prefix {
        "watch"
    } else {
        match *method {
            http::Method::POST => "create",
            http::Method::GET | http::Method::HEAD => "get",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE => "delete",
            _ => "",
        }
    }
    .to_string();
    let q = super::encoding::query(query);
    if a.name.is_empty() && a.verb == "get" {
        let watch = q
            .get("watch")
            .is_some_and(|w| !matches!(w.to_lowercase().as_str(), "false" | "0"));
        a.verb = if watch { "watch" } else { "list" }.to_string();
    }
    if a.name.is_empty() && (a.verb == "list" || a.verb == "watch") {
        let fs = q.get("fieldSelector").map(String::as_str).unwrap_or("");
        let exact = fs.split(',').find_map(|t| {
            let (f, v) = t.split_once("==").or_else(|| t.split_once('='))?;
            (f.trim() == "metadata.name" && !f.ends_with('!')).then(|| v.trim())
        });
        if let Some(n) = exact.filter(|n| !n.is_empty() && crate::storage::keys::valid_path_segment(n).is_ok()) {
            a.name = n.to_string();
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".to_string();
    }
    a
}

use crate::authz::Attributes;

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: http::Method, path: &str, query: Option<&str>) -> Attributes {
        attributes(crate::authz::UserInfo::default(), &method, path, query)
    }

    #[test]
    fn request_attributes_are_kubes() {
        let a = attrs(http::Method::GET, "/api/v1/namespaces/default/pods", None);
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource_request),
            ("list", "default", true)
        );
        let a = attrs(http::Method::GET, "/api/v1/pods", Some("watch=true"));
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", ""));
        let a = attrs(http::Method::GET, "/api/v1/watch/namespaces/a/pods/x", None);
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "x"));
        let a = attrs(
            http::Method::GET,
            "/api/v1/namespaces/a/secrets",
            Some("fieldSelector=metadata.name%3Ds1&watch=1"),
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "s1"));
        let a = attrs(http::Method::GET, "/api/v1/namespaces/a/pods/p/log", None);
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("get", "log"));
        let a = attrs(http::Method::DELETE, "/apis/apps/v1/namespaces/a/deployments", None);
        assert_eq!((a.verb.as_str(), a.api_group.as_str()), ("deletecollection", "apps"));
        let a = attrs(http::Method::PATCH, "/api/v1/nodes/n1/status", None);
        assert_eq!(
            (
                a.verb.as_str(),
                a.name.as_str(),
                a.subresource.as_str(),
                a.namespace.as_str()
            ),
            ("patch", "n1", "status", "")
        );
        let a = attrs(http::Method::GET, "/api/v1/namespaces/kube-system", None);
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let a = attrs(http::Method::GET, "/healthz", None);
        assert_eq!(
            (a.verb.as_str(), a.path.as_str(), a.resource_request),
            ("get", "/healthz", false)
        );
        let a = attrs(http::Method::GET, "/apis/apps/v1", None);
        assert!(!a.resource_request, "discovery is a non-resource URL");
    }

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Target::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_kubernetes_paths() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!((r.namespace.as_deref(), r.resource.as_str()), (Some("default"), "pods"));
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("web"), Some("status"))
        );
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/x/finalize");
        assert_eq!(
            (r.resource.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("finalize"))
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.group.as_str(), r.namespace.as_deref()), ("apps", None));
        let r = res("/api/v1/watch/namespaces/a/pods");
        assert!(r.watch_prefix);
        assert_eq!(r.namespace.as_deref(), Some("a"));
        assert_eq!(parse("/api"), Target::Root { legacy: true });
        assert_eq!(parse("/apis/apps"), Target::Group("apps".into()));
        assert_eq!(parse("/healthz"), Target::Other);
    }
}
