//! CustomResourceDefinitions themselves: the `CustomResourceDefinitionStrategy` (kube's v1
//! defaulting, `apiextensions/validation` checks with their messages, `status.storedVersions`,
//! the cleanup finalizer on delete, storage as kube-apiserver 1.20 does: JSON of
//! `apiextensions.k8s.io/v1beta1` with per-version fields hoisted when all versions agree)
//! and the CRD → served rows derivation (interned `ResourceInfo`s, see `registry::resources`).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::jsonpath::JsonPath;
use super::schema;
use super::strategy::{CustomResourceStrategy, PrinterColumn};
use crate::registry::meta;
use crate::registry::resources::{ResourceInfo, Subresource};
use crate::registry::scale::ScalePaths;
use crate::registry::strategy::{s, Column, Strategy, NAME};
use crate::registry::validation::{dns1035_label, dns1123_subdomain, FieldError};

/// kube's `customresourcecleanup.apiextensions.k8s.io` finalizer.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn versions(crd: &Value) -> Vec<&Value> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default()
}

/// The storage version's name, if exactly one is marked.
pub fn storage_version(crd: &Value) -> Option<&str> {
    let mut it = versions(crd).into_iter().filter(|v| v["storage"] == true);
    let one = it.next()?;
    it.next()
        .is_none()
        .then(|| one.get("name").and_then(Value::as_str))
        .flatten()
}

/// The condition `typ` of a CRD's status.
pub fn condition<'a>(crd: &'a Value, typ: &str) -> Option<&'a Value> {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| s(c, "/type") == typ)
}

pub fn condition_true(crd: &Value, typ: &str) -> bool {
    condition(crd, typ).is_some_and(|c| s(c, "/status") == "True")
}

/// Set (or replace) a condition; keeps lastTransitionTime when the status is unchanged.
pub fn set_condition(crd: &mut Value, typ: &str, status: &str, reason: &str, message: &str) {
    let now = meta::now_rfc3339();
    let since = match condition(crd, typ) {
        Some(c) if s(c, "/status") == status => c.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        _ => json!(now),
    };
    let cond =
        json!({"type": typ, "status": status, "lastTransitionTime": since, "reason": reason, "message": message});
    if !crd.get("status").is_some_and(Value::is_object) {
        crd["status"] = json!({});
    }
    let conds = &mut crd["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    if let Some(a) = conds.as_array_mut() {
        match a.iter_mut().find(|c| s(c, "/type") == typ) {
            Some(c) => *c = cond,
            None => a.push(cond),
        }
    }
}

pub struct CustomResourceDefinitionStrategy;

const V1: &str = "apiextensions.k8s.io/v1";
const V1BETA1: &str = "apiextensions.k8s.io/v1beta1";

/// Per-version fields and their v1beta1 top-level names.
const PER_VERSION: [(&str, &str); 3] = [
    ("schema", "validation"),
    ("subresources", "subresources"),
    ("additionalPrinterColumns", "additionalPrinterColumns"),
];

fn rename_column_paths(cols: &mut Value, from: &str, to: &str) {
    for c in cols.as_array_mut().into_iter().flatten() {
        if let Some(m) = c.as_object_mut() {
            if let Some(p) = m.remove(from) {
                m.insert(to.to_string(), p);
            }
        }
    }
}

/// v1 → the v1beta1 form kube-apiserver 1.20 stores (through its internal version: identical
/// per-version schema/subresources/columns move to the top level, `spec.version` is the first
/// version, columns' `jsonPath` is `JSONPath`, webhook conversion settings are flattened).
pub fn to_v1beta1(crd: &Value) -> Value {
    let mut o = crd.clone();
    o["apiVersion"] = json!(V1BETA1);
    let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) else {
        return o;
    };
    let mut versions: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(first) = versions.first().and_then(|v| v.get("name")).cloned() {
        spec.insert("version".into(), first);
    }
    for (field, top) in PER_VERSION {
        let first = versions.first().and_then(|v| v.get(field)).cloned();
        if let Some(f) = first.filter(|f| versions.iter().all(|v| v.get(field) == Some(f))) {
            spec.insert(top.to_string(), f);
            for v in versions.iter_mut().filter_map(Value::as_object_mut) {
                v.remove(field);
            }
        }
    }
    for v in versions.iter_mut() {
        rename_column_paths(&mut v["additionalPrinterColumns"], "jsonPath", "JSONPath");
        if v.get("additionalPrinterColumns").is_some_and(Value::is_null) {
            if let Some(m) = v.as_object_mut() {
                m.remove("additionalPrinterColumns");
            }
        }
    }
    if let Some(cols) = spec.get_mut("additionalPrinterColumns") {
        rename_column_paths(cols, "jsonPath", "JSONPath");
    }
    spec.insert("versions".into(), json!(versions));
    if let Some(conv) = spec.get_mut("conversion").and_then(Value::as_object_mut) {
        if let Some(Value::Object(w)) = conv.remove("webhook") {
            for (from, to) in [
                ("clientConfig", "webhookClientConfig"),
                ("conversionReviewVersions", "conversionReviewVersions"),
            ] {
                if let Some(v) = w.get(from) {
                    conv.insert(to.into(), v.clone());
                }
            }
        }
    }
    spec.entry("preserveUnknownFields").or_insert(json!(false));
    o
}

/// A stored CRD (v1beta1, e.g. written by kube-apiserver 1.20, or v1) as v1.
pub fn to_v1(crd: &mut Value) {
    if crd.get("apiVersion").and_then(Value::as_str) != Some(V1BETA1) {
        return;
    }
    crd["apiVersion"] = json!(V1);
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let legacy = spec.remove("version");
    let mut versions: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        if let Some(v) = legacy {
            versions.push(json!({"name": v, "served": true, "storage": true}));
        }
    }
    for (field, top) in PER_VERSION {
        if let Some(t) = spec.remove(top) {
            for v in versions.iter_mut().filter_map(Value::as_object_mut) {
                v.entry(field).or_insert_with(|| t.clone());
            }
        }
    }
    for v in versions.iter_mut() {
        if v.get("additionalPrinterColumns").is_some() {
            rename_column_paths(&mut v["additionalPrinterColumns"], "JSONPath", "jsonPath");
        }
    }
    spec.insert("versions".into(), json!(versions));
    if let Some(conv) = spec.get_mut("conversion").and_then(Value::as_object_mut) {
        let mut w = serde_json::Map::new();
        for (from, to) in [
            ("webhookClientConfig", "clientConfig"),
            ("conversionReviewVersions", "conversionReviewVersions"),
        ] {
            if let Some(v) = conv.remove(from) {
                w.insert(to.into(), v);
            }
        }
        if !w.is_empty() {
            conv.insert("webhook".into(), Value::Object(w));
        }
    }
    if spec.get("preserveUnknownFields") == Some(&json!(false)) {
        spec.remove("preserveUnknownFields");
    }
}

/// kube's v1 SetDefaults_CustomResourceDefinitionSpec.
fn default_spec(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let kind = spec
        .pointer("/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        if names.get("singular").and_then(Value::as_str).is_none_or(str::is_empty) {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names.get("listKind").and_then(Value::as_str).is_none_or(str::is_empty) && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if spec.get("conversion").is_none_or(Value::is_null) {
        spec["conversion"] = json!({"strategy": "None"});
    }
}

fn invalid_list(field: &str, v: &str, errs: Vec<String>, prefix: &str) -> Option<FieldError> {
    (!errs.is_empty()).then(|| FieldError::invalid(field, json!(v), &format!("{prefix}{}", errs.join(","))))
}

/// kube's ValidateCustomResourceDefinition (the checks that matter for serving).
fn validate_crd(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = s(obj, "/spec/group");
    let plural = s(obj, "/spec/names/plural");
    let name = meta::name(obj);
    if !name.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if let Some(e) = invalid_list("spec.group", group, dns1123_subdomain(group), "") {
        errs.push(e);
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            json!(group),
            "should be a domain with at least one dot",
        ));
    }
    // v1: protected groups need the API review annotation.
    let protected = group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io");
    let approved = obj
        .pointer("/metadata/annotations/api-approved.kubernetes.io")
        .and_then(Value::as_str);
    if protected && approved.is_none_or(str::is_empty) {
        errs.push(FieldError::required(
            "metadata.annotations[api-approved.kubernetes.io]",
            "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
        ));
    }
    match s(obj, "/spec/scope") {
        "" => errs.push(FieldError::required("spec.scope", "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    // Names.
    for (f, label) in [
        ("plural", true),
        ("singular", true),
        ("kind", false),
        ("listKind", false),
    ] {
        let v = s(obj, &format!("/spec/names/{f}"));
        let field = format!("spec.names.{f}");
        if v.is_empty() {
            errs.push(FieldError::required(&field, ""));
            continue;
        }
        let e = if label {
            invalid_list(&field, v, dns1035_label(v), "")
        } else {
            invalid_list(
                &field,
                v,
                dns1035_label(&v.to_lowercase()),
                "may have mixed case, but should otherwise match: ",
            )
        };
        errs.extend(e);
    }
    let kind = s(obj, "/spec/names/kind");
    if !kind.is_empty() && kind == s(obj, "/spec/names/listKind") {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            json!(kind),
            "kind and listKind may not be the same",
        ));
    }
    for list in ["shortNames", "categories"] {
        let items = obj.pointer(&format!("/spec/names/{list}")).and_then(Value::as_array);
        for (i, v) in items.into_iter().flatten().enumerate() {
            let v = v.as_str().unwrap_or("");
            errs.extend(invalid_list(
                &format!("spec.names.{list}[{i}]"),
                v,
                dns1035_label(v),
                "",
            ));
        }
    }
    // Versions.
    let vs = versions(obj);
    if vs.is_empty() {
        errs.push(FieldError::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen = Vec::new();
    let mut storage = 0;
    for (i, v) in vs.iter().enumerate() {
        let vname = s(v, "/name");
        let base = format!("spec.versions[{i}]");
        errs.extend(invalid_list(&format!("{base}.name"), vname, dns1035_label(vname), ""));
        if seen.contains(&vname) {
            errs.push(FieldError::invalid(
                "spec.versions",
                json!(vs),
                "must contain unique version names",
            ));
        }
        seen.push(vname);
        if v["storage"] == true {
            storage += 1;
        }
        match v.pointer("/schema/openAPIV3Schema") {
            Some(sc) if sc.is_object() => {
                errs.extend(schema::structural_errors(sc, &format!("{base}.schema.openAPIV3Schema")));
            }
            _ => errs.push(FieldError::required(
                &format!("{base}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
        }
        if let Some(sc) = v.pointer("/subresources/scale") {
            let spec_path = s(sc, "/specReplicasPath");
            if spec_path.is_empty() {
                errs.push(FieldError::required(
                    &format!("{base}.subresources.scale.specReplicasPath"),
                    "",
                ));
            } else if !spec_path.starts_with(".spec.") || ScalePaths::from_crd(sc).is_none() {
                errs.push(FieldError::invalid(
                    &format!("{base}.subresources.scale.specReplicasPath"),
                    json!(spec_path),
                    "should be a json path under .spec",
                ));
            }
            let status_path = s(sc, "/statusReplicasPath");
            if status_path.is_empty() {
                errs.push(FieldError::required(
                    &format!("{base}.subresources.scale.statusReplicasPath"),
                    "",
                ));
            } else if !status_path.starts_with(".status.") {
                errs.push(FieldError::invalid(
                    &format!("{base}.subresources.scale.statusReplicasPath"),
                    json!(status_path),
                    "should be a json path under .status",
                ));
            }
        }
        let cols = v.get("additionalPrinterColumns").and_then(Value::as_array);
        for (j, c) in cols.into_iter().flatten().enumerate() {
            let cb = format!("{base}.additionalPrinterColumns[{j}]");
            if s(c, "/name").is_empty() {
                errs.push(FieldError::required(&format!("{cb}.name"), ""));
            }
            let t = s(c, "/type");
            if !matches!(t, "integer" | "number" | "string" | "boolean" | "date") {
                errs.push(FieldError::not_supported(
                    &format!("{cb}.type"),
                    json!(t),
                    &["integer", "number", "string", "boolean", "date"],
                ));
            }
            let p = s(c, "/jsonPath");
            if p.is_empty() {
                errs.push(FieldError::required(&format!("{cb}.jsonPath"), ""));
            } else if JsonPath::parse(p).is_err() {
                errs.push(FieldError::invalid(
                    &format!("{cb}.jsonPath"),
                    json!(p),
                    "must be a simple json path",
                ));
            }
        }
    }
    if !vs.is_empty() && storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!(vs),
            "must have exactly one version marked as storage version",
        ));
    }
    match s(obj, "/spec/conversion/strategy") {
        "None" | "Webhook" => {}
        other => errs.push(FieldError::not_supported(
            "spec.conversion.strategy",
            json!(other),
            &["None", "Webhook"],
        )),
    }
    errs
}

fn set_stored_version(obj: &mut Value) {
    let Some(storage) = storage_version(obj).map(String::from) else {
        return;
    };
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
    let stored = &mut obj["status"]["storedVersions"];
    if !stored.is_array() {
        *stored = json!([]);
    }
    if let Some(a) = stored.as_array_mut() {
        if !a.iter().any(|v| v == &json!(storage)) {
            a.push(json!(storage));
        }
    }
}

impl Strategy for CustomResourceDefinitionStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_spec(obj);
        obj["status"] = json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []});
        set_stored_version(obj);
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_crd(obj)
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_spec(new);
        set_stored_version(new);
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_crd(new);
        let mut immutable = |field: &str, ptr: &str| {
            if new.pointer(ptr) != old.pointer(ptr) {
                errs.push(FieldError::invalid(
                    field,
                    new.pointer(ptr).cloned().unwrap_or(Value::Null),
                    "field is immutable",
                ));
            }
        };
        immutable("spec.group", "/spec/group");
        immutable("spec.names.plural", "/spec/names/plural");
        if condition_true(old, "Established") {
            immutable("spec.scope", "/spec/scope");
            immutable("spec.names.kind", "/spec/names/kind");
        }
        errs
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn for_storage(&self, obj: &Value) -> Option<Value> {
        Some(to_v1beta1(obj))
    }
    fn on_read(&self, obj: &mut Value) {
        to_v1(obj);
    }
    fn before_delete(&self, obj: &mut Value) {
        let m = meta::meta_mut(obj);
        let fins = m.entry("finalizers").or_insert_with(|| json!([]));
        if !fins.is_array() {
            *fins = json!([]);
        }
        if let Some(a) = fins.as_array_mut() {
            if !a.iter().any(|f| f == CLEANUP_FINALIZER) {
                a.push(json!(CLEANUP_FINALIZER));
            }
        }
        set_condition(
            obj,
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        );
    }
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column {
                name: "Created At",
                kind: "date",
                format: "",
                priority: 0,
                description: crate::registry::strategy::AGE.description,
            },
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(meta::name(obj)),
            json!(meta::meta_str(obj, "creationTimestamp").unwrap_or("")),
        ]
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_list(v: Option<&Value>) -> &'static [&'static str] {
    let items: Vec<&'static str> = v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(leak)
        .collect();
    Box::leak(items.into_boxed_slice())
}

/// What one served version of a CRD is: everything a row and its strategy are built from.
/// Its JSON form is the interning key.
fn version_definition(crd: &Value, version: &Value) -> Option<Value> {
    let names = crd.pointer("/status/acceptedNames")?;
    let plural = s(names, "/plural");
    let kind = s(names, "/kind");
    if plural.is_empty() || kind.is_empty() {
        return None;
    }
    Some(json!({
        "group": s(crd, "/spec/group"),
        "version": s(version, "/name"),
        "storage": storage_version(crd)?,
        "kind": kind,
        "plural": plural,
        "singular": s(names, "/singular"),
        "shortNames": names.get("shortNames").cloned().unwrap_or(json!([])),
        "categories": names.get("categories").cloned().unwrap_or(json!([])),
        "namespaced": s(crd, "/spec/scope") == "Namespaced",
        "schema": version.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null),
        "status": version.pointer("/subresources/status").is_some(),
        "scale": version.pointer("/subresources/scale").cloned().unwrap_or(Value::Null),
        "columns": version.get("additionalPrinterColumns").cloned().unwrap_or(json!([])),
    }))
}

fn build(d: &Value) -> &'static ResourceInfo {
    let group = leak(s(d, "/group"));
    let plural = leak(s(d, "/plural"));
    let scale = ScalePaths::from_crd(&d["scale"]);
    let mut subs = Vec::new();
    if d["status"] == true {
        subs.push(Subresource::Status);
    }
    if scale.is_some() {
        subs.push(Subresource::Scale);
    }
    let columns = d["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let path = s(c, "/jsonPath");
            let desc = match s(c, "/description") {
                "" => format!("Custom resource definition column (in JSONPath format): {path}"),
                d => d.to_string(),
            };
            PrinterColumn {
                column: Column {
                    name: leak(s(c, "/name")),
                    kind: leak(s(c, "/type")),
                    format: leak(s(c, "/format")),
                    priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                    description: leak(&desc),
                },
                path: JsonPath::parse(path).ok(),
            }
        })
        .collect();
    let strategy: &'static dyn Strategy = Box::leak(Box::new(CustomResourceStrategy {
        api_version: format!("{group}/{}", s(d, "/version")),
        storage_api_version: format!("{group}/{}", s(d, "/storage")),
        schema: Some(d["schema"].clone()).filter(Value::is_object),
        status: d["status"] == true,
        scale,
        columns,
    }));
    Box::leak(Box::new(ResourceInfo {
        group,
        version: leak(s(d, "/version")),
        kind: leak(s(d, "/kind")),
        plural,
        singular: leak(s(d, "/singular")),
        short_names: leak_list(d.get("shortNames")),
        categories: leak_list(d.get("categories")),
        namespaced: d["namespaced"] == true,
        etcd_prefix: leak(&format!("{group}/{plural}")),
        subresources: Box::leak(subs.into_boxed_slice()),
        fields: &[],
        ttl: false,
        top_fields: &[],
        serving: crate::registry::resources::Serving::Stored,
        strategy,
    }))
}

/// The interned row of a definition: identical definitions share one leaked row.
fn intern(d: &Value) -> &'static ResourceInfo {
    static POOL: Mutex<Option<HashMap<String, &'static ResourceInfo>>> = Mutex::new(None);
    let key = d.to_string();
    let mut g = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let pool = g.get_or_insert_with(HashMap::new);
    if let Some(r) = pool.get(&key) {
        return r;
    }
    let r = build(d);
    pool.insert(key, r);
    r
}

/// The rows a CRD serves: one per served version (needs accepted names and a storage version).
pub fn rows(crd: &Value) -> Vec<&'static ResourceInfo> {
    versions(crd)
        .into_iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| version_definition(crd, v))
        .map(|d| intern(&d))
        .collect()
}

/// A row for the storage version (for cleanup), even if not served.
pub fn storage_row(crd: &Value) -> Option<&'static ResourceInfo> {
    let sv = storage_version(crd)?;
    let v = versions(crd).into_iter().find(|v| s(v, "/name") == sv)?;
    version_definition(crd, v).map(|d| intern(&d))
}

/// kube's version priority: GA before beta before alpha, higher numbers first, then others
/// alphabetically.
pub fn version_order(v: &str) -> (u8, i64, i64, String) {
    let parse = || -> Option<(u8, i64, i64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: i64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0, -major, 0));
        }
        for (rank, word) in [(1u8, "beta"), (2u8, "alpha")] {
            if let Some(n) = tail.strip_prefix(word) {
                let minor: i64 = if n.is_empty() { 0 } else { n.parse().ok()? };
                return Some((rank, -major, -minor));
            }
        }
        None
    };
    match parse() {
        Some((r, a, b)) => (r, a, b, String::new()),
        None => (3, 0, 0, v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas"}}},
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    }

    #[test]
    fn defaults_and_validation() {
        let st = CustomResourceDefinitionStrategy;
        let mut c = crd();
        st.prepare_for_create(&mut c);
        assert_eq!(c["spec"]["names"]["singular"], "widget");
        assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        assert!(st.validate(&c).is_empty(), "{:?}", st.validate(&c));
        let mut bad = c.clone();
        bad["metadata"]["name"] = json!("widget.example.com");
        bad["spec"]["scope"] = json!("Global");
        bad["spec"]["versions"][1]["storage"] = json!(true);
        let msgs: Vec<String> = st.validate(&bad).iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs[0],
            "metadata.name: Invalid value: \"widget.example.com\": must be spec.names.plural+\".\"+spec.group"
        );
        assert_eq!(
            msgs[1],
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\""
        );
        assert!(msgs[2].ends_with("must have exactly one version marked as storage version"));
        let mut nogroup = c.clone();
        nogroup["spec"]["group"] = json!("example");
        nogroup["metadata"]["name"] = json!("widgets.example");
        let msgs: Vec<String> = st.validate(&nogroup).iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            ["spec.group: Invalid value: \"example\": should be a domain with at least one dot"]
        );
        let mut protected = c.clone();
        protected["spec"]["group"] = json!("x.k8s.io");
        protected["metadata"]["name"] = json!("widgets.x.k8s.io");
        let msgs: Vec<String> = st.validate(&protected).iter().map(ToString::to_string).collect();
        assert_eq!(msgs, ["metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"]);
        protected["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "unapproved, testing"});
        assert!(st.validate(&protected).is_empty());
    }

    #[test]
    fn rows_are_interned_per_definition() {
        let mut c = crd();
        CustomResourceDefinitionStrategy.prepare_for_create(&mut c);
        assert!(rows(&c).is_empty(), "no accepted names yet");
        c["status"]["acceptedNames"] = c["spec"]["names"].clone();
        let a = rows(&c);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].version, a[0].etcd_prefix, a[0].namespaced),
            ("v1", "example.com/widgets", true)
        );
        assert_eq!(a[0].strategy.storage_api_version(), Some("example.com/v1"));
        assert_eq!(a[1].strategy.storage_api_version(), Some("example.com/v1"));
        assert!(a[0].has(Subresource::Scale) && !a[1].has(Subresource::Status));
        let b = rows(&c);
        assert!(std::ptr::eq(a[0], b[0]), "identical definitions reuse the row");
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = json!("changed");
        assert!(!std::ptr::eq(a[0], rows(&c)[0]));
    }

    #[test]
    fn stored_as_kube_1_20_stores_crds() {
        let mut c = crd();
        c["spec"]["versions"][1]["subresources"] = c["spec"]["versions"][0]["subresources"].clone();
        c["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "A", "type": "string", "jsonPath": ".a"}]);
        let stored = to_v1beta1(&c);
        assert_eq!(stored["apiVersion"], V1BETA1);
        assert_eq!(stored["spec"]["version"], "v1");
        assert_eq!(
            stored["spec"]["validation"],
            json!({"openAPIV3Schema": {"type": "object"}})
        );
        assert!(stored["spec"]["subresources"]["scale"].is_object());
        assert_eq!(
            stored["spec"]["versions"][0]["additionalPrinterColumns"][0]["JSONPath"],
            ".a"
        );
        assert_eq!(
            stored["spec"]["versions"][1],
            json!({"name": "v1beta1", "served": true, "storage": false})
        );
        assert_eq!(stored["spec"]["preserveUnknownFields"], false);
        let mut back = stored.clone();
        to_v1(&mut back);
        assert_eq!(back, c);
    }

    #[test]
    fn kube_version_priority() {
        let mut v = vec!["v1alpha1", "foo", "v2beta1", "v1", "v1beta2", "v2", "v1beta1"];
        v.sort_by_key(|x| version_order(x));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
