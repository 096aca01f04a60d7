//! OpenAPI endpoints, just enough for kubectl 1.32's validation logic.
//!
//! `/openapi/v2` serves a minimal gnostic protobuf `Document` (swagger
//! "2.0", info, empty paths): kubectl's parser accepts it and, finding no
//! schema for a kind, skips client-side schema checks. `/openapi/v3` lists
//! one document per group-version whose PATCH operations carry
//! `x-kubernetes-group-version-kind` and a `fieldValidation` query
//! parameter, so kubectl's query-param verifier defers validation to the
//! server (it sends `fieldValidation=Strict`). Component schemas are built
//! from the generated type table (`crate::schema`, with the upstream field
//! documentation), so `kubectl explain` works.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::discovery::GIT_VERSION;
use crate::registry::resources::{all, ResourceInfo};
use crate::schema::{self, Ty};

/// What kube-openapi answers (the Accept form has `@v1.0`, which Go's mime parser rejects).
pub const V2_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn pb_string(field: u8, s: &str, out: &mut Vec<u8>) {
    out.push((field << 3) | 2);
    pb_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn pb_len(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// gnostic openapi_v2.Document{swagger:"2.0", info:{title, version}, paths:{}}.
pub fn v2_protobuf() -> Vec<u8> {
    let mut info = Vec::new();
    pb_string(1, "Kubernetes", &mut info);
    pb_string(2, GIT_VERSION, &mut info);
    let mut doc = Vec::new();
    pb_string(1, "2.0", &mut doc);
    doc.push((2 << 3) | 2);
    pb_len(info.len(), &mut doc);
    doc.extend_from_slice(&info);
    doc.push((8 << 3) | 2);
    doc.push(0);
    doc
}

/// The same minimal document as JSON (Accept: application/json).
pub fn v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": {}})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group-version index.
pub fn v3_index() -> Value {
    let mut paths = Map::new();
    let rows = all();
    for r in &rows {
        let p = gv_path(r.group, r.version);
        paths.entry(p.clone()).or_insert_with(|| {
            // Custom resources' documents change with their CRDs: so must the URL kubectl caches.
            let hash = if r.is_custom() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                for c in rows.iter().filter(|c| gv_path(c.group, c.version) == p) {
                    std::hash::Hash::hash(
                        &(c.plural, c.kind, c.strategy.openapi_schema().map(Value::to_string)),
                        &mut h,
                    );
                }
                format!("{:016X}", std::hash::Hasher::finish(&h))
            } else {
                GIT_VERSION.replace('.', "")
            };
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")})
        });
    }
    json!({"paths": paths})
}

fn patch_op(r: &ResourceInfo) -> Value {
    let q = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
    json!({
        "patch": {
            "operationId": format!("patch{}", r.kind),
            "parameters": [q("dryRun"), q("fieldManager"), q("fieldValidation"), q("force")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        }
    })
}

/// OpenAPI schema name of a message: `k8s.io.api.core.v1.Pod` → `io.k8s.api.core.v1.Pod`.
fn schema_name(msg: &str) -> String {
    match msg.strip_prefix("k8s.io.") {
        Some(rest) => format!("io.k8s.{rest}"),
        None => msg.to_string(),
    }
}

fn special_schema(msg: &str) -> Option<Value> {
    let short = msg.rsplit('.').next().unwrap_or("");
    Some(match short {
        "Time" | "MicroTime" => json!({"type": "string", "format": "date-time"}),
        "Duration" | "Quantity" => json!({"type": "string"}),
        "IntOrString" => {
            json!({"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true})
        }
        "RawExtension" | "FieldsV1" => json!({"type": "object"}),
        "Verbs" => json!({"type": "array", "items": {"type": "string"}}),
        _ => return None,
    })
}

fn type_schema(ty: Ty, refs: &mut Vec<&'static str>) -> Value {
    match ty {
        Ty::Str => json!({"type": "string"}),
        Ty::Bytes => json!({"type": "string", "format": "byte"}),
        Ty::I32 | Ty::U32 => json!({"type": "integer", "format": "int32"}),
        Ty::I64 | Ty::U64 => json!({"type": "integer", "format": "int64"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::F64 | Ty::F32 => json!({"type": "number", "format": "double"}),
        Ty::Map(v) => json!({"type": "object", "additionalProperties": type_schema(*v, refs)}),
        Ty::Msg(m) => {
            if schema::is_special(m) {
                if let Some(s) = special_schema(m) {
                    return s;
                }
            }
            refs.push(m);
            json!({"allOf": [{"$ref": format!("#/components/schemas/{}", schema_name(m))}]})
        }
    }
}

fn message_schema(msg: &str, refs: &mut Vec<&'static str>) -> Value {
    let mut props = Map::new();
    for f in schema::json_fields(msg) {
        let mut fs = type_schema(f.ty, refs);
        if f.repeated {
            fs = json!({"type": "array", "items": fs});
        }
        if !f.doc.is_empty() {
            fs["description"] = json!(f.doc);
        }
        props.insert(f.name.to_string(), fs);
    }
    json!({"type": "object", "description": schema::message_doc(msg), "properties": props})
}

const OBJECT_META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// A custom resource's schema as kube-apiserver publishes it: named `<reversed group>.<version>.<Kind>`,
/// the CRD's `openAPIV3Schema` with apiVersion, kind and metadata (ObjectMeta) filled in.
fn custom_schema(r: &ResourceInfo) -> (String, Value) {
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    let name = format!("{}.{}.{}", reversed.join("."), r.version, r.kind);
    let mut root = r
        .strategy
        .openapi_schema()
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    if !root.get("properties").is_some_and(Value::is_object) {
        root["properties"] = json!({});
    }
    root["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
    root["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
    root["properties"]["metadata"] = json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [{"$ref": format!("#/components/schemas/{}", schema_name(OBJECT_META))}]});
    root["x-kubernetes-group-version-kind"] = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
    (name, root)
}

/// `/openapi/v3/<api/v1|apis/g/v>`, or None if no such group-version.
pub fn v3_group_version(path: &str) -> Option<Value> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut refs: Vec<&'static str> = Vec::new();
    for r in all().into_iter().filter(|r| gv_path(r.group, r.version) == path) {
        let base = format!("/{path}");
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        paths.insert(item, patch_op(r));
        if r.is_custom() {
            let (name, root) = custom_schema(r);
            refs.push(OBJECT_META);
            schemas.insert(name, root);
        } else if let Some(msg) = schema::kind_message(&r.api_version(), r.kind) {
            let mut root = message_schema(&msg, &mut refs);
            root["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
            root["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
            root["x-kubernetes-group-version-kind"] = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
            schemas.insert(schema_name(&msg), root);
        }
    }
    if paths.is_empty() {
        return None;
    }
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    while let Some(m) = refs.pop() {
        if !seen.insert(m) || schemas.contains_key(&schema_name(m)) {
            continue;
        }
        let s = message_schema(m, &mut refs);
        schemas.insert(schema_name(m), s);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_document_bytes() {
        let b = v2_protobuf();
        assert_eq!(&b[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(&b[b.len() - 2..], &[0x42, 0]);
    }

    #[test]
    fn v3_documents_have_field_validation_on_patch() {
        let idx = v3_index();
        assert!(idx["paths"]["api/v1"]["serverRelativeURL"].is_string());
        assert!(idx["paths"]["apis/apps/v1"].is_object());
        let core = v3_group_version("api/v1").expect("core");
        let op = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(op["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
    }
}
