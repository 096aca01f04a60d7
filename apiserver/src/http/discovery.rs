//! Discovery documents built from the resource table: legacy (/api, /api/v1, /apis,
//! /apis/<g>, /apis/<g>/<v>), aggregated v2 (/api and /apis as APIGroupDiscoveryList, what
//! kubectl 1.27+ asks for first) and /version.

use serde_json::{json, Value};

use crate::registry::resources::{all, groups, ResourceInfo, Subresource};

pub const GIT_VERSION: &str = "v1.32.0";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "32",
    })
}

pub fn api_versions(advertise: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": advertise}],
    })
}

/// Groups in table order, each with its versions (preferred first).
fn grouped() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (g, v) in groups() {
        match out.iter_mut().find(|(name, _)| *name == g) {
            Some((_, vs)) => vs.push(v),
            None => out.push((g, vec![v])),
        }
    }
    out
}

fn group_doc(group: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(versions.first().copied().unwrap_or("v1")),
    })
}

pub fn api_group_list() -> Value {
    let gs: Vec<Value> = grouped().iter().map(|(g, vs)| group_doc(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn api_group(group: &str) -> Option<Value> {
    let (g, vs) = grouped().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_doc(g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// The media type of aggregated discovery (`/api`, `/apis` with this in Accept).
pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery (JSON, v2) before anything this
/// server would answer with plain discovery. Media ranges it cannot serve (protobuf or
/// v2beta1 aggregated discovery) are skipped, as content negotiation does.
pub fn wants_aggregated(accept: &str) -> bool {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        if param("g") == Some("apidiscovery.k8s.io") {
            if media == "application/json" && param("v") == Some("v2") && param("as") == Some("APIGroupDiscoveryList") {
                return true;
            }
            continue;
        }
        if matches!(media, "application/json" | "*/*" | "application/*" | "application/yaml") {
            return false;
        }
    }
    false
}

/// One resource of aggregated discovery (apidiscovery.k8s.io/v2 APIResourceDiscovery).
fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut doc = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        doc["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        doc["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (kind, verbs, group, version): (&str, &[&str], &str, &str) = match sub {
                Subresource::Status => (r.kind, &["get", "patch", "update"], r.group, r.version),
                Subresource::Binding => ("Binding", &["create"], r.group, r.version),
                Subresource::Finalize => (r.kind, &["update"], r.group, r.version),
                Subresource::Approval => (r.kind, &["get", "patch", "update"], r.group, r.version),
                Subresource::Scale => ("Scale", &["get", "patch", "update"], "autoscaling", "v1"),
            };
            json!({"subresource": sub.name(), "responseKind": {"group": group, "version": version, "kind": kind}, "verbs": verbs})
        })
        .collect();
    if !subs.is_empty() {
        doc["subresources"] = json!(subs);
    }
    doc
}

/// `/api` (core only) or `/apis` (every named group) as an APIGroupDiscoveryList.
pub fn aggregated(legacy: bool) -> Value {
    let items: Vec<Value> = grouped()
        .into_iter()
        .chain(legacy.then(|| ("", vec!["v1"])))
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = all()
                        .into_iter()
                        .filter(|r| r.group == g && r.version == *v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn verbs(r: &ResourceInfo) -> &'static [&'static str] {
    if r.serving == crate::registry::resources::Serving::ComputedReadOnly {
        return &["get", "list"];
    }
    if r.create_only() {
        &["create"]
    } else {
        VERBS
    }
}

fn entries(r: &ResourceInfo) -> Vec<Value> {
    let mut out = vec![json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": verbs(r),
        "shortNames": r.short_names,
        "categories": r.categories,
    })];
    if out[0]["shortNames"].as_array().is_some_and(Vec::is_empty) {
        if let Some(m) = out[0].as_object_mut() {
            m.remove("shortNames");
        }
    }
    if out[0]["categories"].as_array().is_some_and(Vec::is_empty) {
        if let Some(m) = out[0].as_object_mut() {
            m.remove("categories");
        }
    }
    for sub in r.subresources {
        let (kind, verbs): (&str, &[&str]) = match sub {
            Subresource::Status => (r.kind, &["get", "patch", "update"]),
            Subresource::Binding => ("Binding", &["create"]),
            Subresource::Finalize => (r.kind, &["update"]),
            Subresource::Approval => (r.kind, &["get", "patch", "update"]),
            Subresource::Scale => ("Scale", &["get", "patch", "update"]),
        };
        out.push(json!({
            "name": format!("{}/{}", r.plural, sub.name()),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": kind,
            "verbs": verbs,
        }));
        if *sub == Subresource::Scale {
            if let Some(last) = out.last_mut() {
                last["group"] = json!("autoscaling");
                last["version"] = json!("v1");
            }
        }
    }
    out
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceInfo> = all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = rs.into_iter().flat_map(entries).collect();
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_is_negotiated_and_groups_every_version() {
        let kubectl = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json;q=0.9";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json, */*"));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated(""));
        let apis = aggregated(false);
        let items = apis["items"].as_array().expect("items");
        let batch: Vec<&Value> = items.iter().filter(|g| g["metadata"]["name"] == "batch").collect();
        assert_eq!(batch.len(), 1, "one entry per group");
        let versions: Vec<&str> = batch[0]["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(|v| v["version"].as_str())
            .collect();
        assert_eq!(versions, ["v1", "v1beta1"], "preferred version first");
        assert!(items.iter().all(|g| g["metadata"]["name"] != ""));
        let core = aggregated(true);
        assert_eq!(core["items"].as_array().map(Vec::len), Some(1));
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["resource"] == "pods").cloned())
            .expect("pods");
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["responseKind"]["kind"], "Pod");
        assert!(pods["subresources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["subresource"] == "binding")));
        // Legacy discovery lists each group once too, with all its versions.
        let list = api_group_list();
        let policy: Vec<&Value> = list["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter(|g| g["name"] == "policy")
            .collect();
        assert_eq!(policy.len(), 1);
        assert_eq!(policy[0]["preferredVersion"]["version"], "v1");
    }

    #[test]
    fn discovery_lists_short_names_and_subresources() {
        let core = resource_list("", "v1").expect("core");
        let rs = core["resources"].as_array().expect("array");
        let pods = rs.iter().find(|r| r["name"] == "pods").expect("pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert!(rs.iter().any(|r| r["name"] == "pods/binding" && r["kind"] == "Binding"));
        let apps = resource_list("apps", "v1").expect("apps");
        assert_eq!(apps["groupVersion"], "apps/v1");
        assert!(api_group("coordination.k8s.io").is_some());
        assert!(resource_list("nope", "v1").is_none());
    }
}
