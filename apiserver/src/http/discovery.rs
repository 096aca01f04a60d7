//! Legacy discovery documents (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>)
//! and /version, built from the resource table.

use serde_json::{json, Value};

use crate::registry::resources::{groups, ResourceInfo, Subresource, RESOURCES};

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

fn group_doc(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version},
    })
}

pub fn api_group_list() -> Value {
    let gs: Vec<Value> = groups().into_iter().map(|(g, v)| group_doc(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_doc(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
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

fn entries(r: &ResourceInfo) -> Vec<Value> {
    let mut out = vec![json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": VERBS,
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
    let rs: Vec<&ResourceInfo> = RESOURCES
        .iter()
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
