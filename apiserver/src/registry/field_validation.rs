//! `fieldValidation=Strict|Warn|Ignore`: unknown fields are dropped (as
//! decoding into Go structs does) and reported with their paths
//! (`spec.containers[0].foo`), using the built-in types' schema table.
//! Kinds without a schema only get their top level checked. Values of the
//! wrong JSON type are always a 400, as Go's JSON decoder refuses them.

use serde_json::Value;

use super::resources::ResourceInfo;
use crate::error::{ApiError, Result};
use crate::schema::{self, Ty};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ignore,
    Warn,
    Strict,
}

impl Mode {
    pub fn parse(v: Option<&str>) -> Result<Self> {
        match v {
            None | Some("") | Some("Warn") => Ok(Mode::Warn),
            Some("Ignore") => Ok(Mode::Ignore),
            Some("Strict") => Ok(Mode::Strict),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Findings {
    unknown: Vec<String>,
    type_errors: Vec<String>,
}

/// Remove unknown fields from `obj`; returns their paths.
pub fn prune_unknown(res: &ResourceInfo, obj: &mut Value) -> Vec<String> {
    inspect(res, obj).unknown
}

fn inspect(res: &ResourceInfo, obj: &mut Value) -> Findings {
    let mut found = Findings::default();
    if let Some(unknown) = res.strategy.prune_unknown(obj) {
        found.unknown = unknown;
        return found;
    }
    match schema::kind_message(&res.api_version(), res.kind) {
        Some(msg) => walk(obj, &msg, "", &mut found, 0),
        None => top_level(res, obj, &mut found.unknown),
    }
    found
}

fn top_level(res: &ResourceInfo, obj: &mut Value, unknown: &mut Vec<String>) {
    if let Some(m) = obj.as_object_mut() {
        m.retain(|k, _| {
            let known =
                matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || res.top_fields.contains(&k.as_str());
            if !known {
                unknown.push(k.clone());
            }
            known
        });
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// The Go type name for messages (`PodSpec`) and scalars (`int32`).
fn go_type(ty: Ty) -> String {
    match ty {
        Ty::Str => "string".into(),
        Ty::Bytes => "[]uint8".into(),
        Ty::I32 => "int32".into(),
        Ty::I64 => "int64".into(),
        Ty::U32 => "uint32".into(),
        Ty::U64 => "uint64".into(),
        Ty::Bool => "bool".into(),
        Ty::F64 | Ty::F32 => "float64".into(),
        Ty::Msg(m) => m.rsplit('.').next().unwrap_or(m).to_string(),
        Ty::Map(v) => format!("map[string]{}", go_type(*v)),
    }
}

/// Whether `v` is an acceptable JSON value for one element of type `ty`.
fn type_ok(ty: Ty, v: &Value) -> bool {
    match (ty, v) {
        (_, Value::Null) => true,
        (Ty::Str | Ty::Bytes, Value::String(_)) => true,
        (Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64, Value::Number(n)) => {
            n.as_i64().is_some() || n.as_u64().is_some() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (Ty::F64 | Ty::F32, Value::Number(_)) => true,
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Map(_), Value::Object(_)) => true,
        (Ty::Msg(m), v) if schema::is_special(m) => match m.rsplit('.').next().unwrap_or("") {
            "Time" | "MicroTime" | "Duration" => v.is_string(),
            "Quantity" | "IntOrString" => v.is_string() || v.is_number(),
            "Verbs" => v.is_array(),
            _ => true,
        },
        (Ty::Msg(_), Value::Object(_)) => true,
        _ => false,
    }
}

fn walk(v: &mut Value, msg: &str, path: &str, found: &mut Findings, depth: usize) {
    if depth > MAX_DEPTH || schema::is_special(msg) {
        return;
    }
    let Value::Object(m) = v else { return };
    let fields = schema::json_fields(msg);
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    m.retain(|k, _| {
        let known = fields.iter().any(|f| f.name == k) || (depth == 0 && (k == "apiVersion" || k == "kind"));
        if !known {
            found.unknown.push(join(k));
        }
        known
    });
    let short = msg.rsplit('.').next().unwrap_or(msg);
    for (k, val) in m.iter_mut() {
        let Some(f) = fields.iter().find(|f| f.name == k) else {
            continue;
        };
        let elems_ok = match (f.repeated, &*val) {
            (true, Value::Array(items)) => items.iter().all(|i| type_ok(f.ty, i)),
            (true, Value::Null) => true,
            (true, _) => false,
            (false, one) => type_ok(f.ty, one),
        };
        if !elems_ok {
            let go = if f.repeated {
                format!("[]{}", go_type(f.ty))
            } else {
                go_type(f.ty)
            };
            found.type_errors.push(format!(
                "json: cannot unmarshal {} into Go struct field {short}.{} of type {go}",
                json_type(val),
                join(k)
            ));
            continue;
        }
        match (f.ty, val) {
            (Ty::Msg(inner), Value::Array(items)) if f.repeated => {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, inner, &format!("{}[{i}]", join(k)), found, depth + 1);
                }
            }
            (Ty::Msg(inner), item) => walk(item, inner, &join(k), found, depth + 1),
            (Ty::Map(Ty::Msg(inner)), Value::Object(entries)) => {
                for (key, item) in entries.iter_mut() {
                    walk(item, inner, &format!("{}[{key}]", join(k)), found, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Apply `mode`: Err for Strict with unknown fields, else the warnings to send.
pub fn check(res: &ResourceInfo, obj: &mut Value, mode: Mode) -> Result<Vec<String>> {
    let Findings { unknown, type_errors } = inspect(res, obj);
    if let Some(first) = type_errors.first() {
        return Err(ApiError::BadRequest(format!(
            "{kind} in version {v:?} cannot be handled as a {kind}: {first}",
            kind = res.kind,
            v = res.version,
        )));
    }
    if unknown.is_empty() || mode == Mode::Ignore {
        return Ok(Vec::new());
    }
    let msgs: Vec<String> = unknown.iter().map(|u| format!("unknown field {u:?}")).collect();
    if mode == Mode::Strict {
        return Err(ApiError::BadRequest(format!(
            "{kind} in version {v:?} cannot be handled as a {kind}: strict decoding error: {}",
            msgs.join(", "),
            kind = res.kind,
            v = res.version,
        )));
    }
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::resources::find;
    use serde_json::json;

    #[test]
    fn strict_rejects_and_warn_prunes() {
        let cm = find("", "v1", "configmaps").expect("configmaps");
        let mut obj = json!({"kind":"ConfigMap","metadata":{"name":"a","bogus":1},"data":{},"spec":{}});
        let err = check(cm, &mut obj.clone(), Mode::Strict).expect_err("strict");
        assert_eq!(
            err.to_string(),
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\", unknown field \"metadata.bogus\""
        );
        let warnings = check(cm, &mut obj, Mode::Warn).expect("warn");
        assert_eq!(warnings.len(), 2);
        assert_eq!(obj, json!({"kind":"ConfigMap","metadata":{"name":"a"},"data":{}}));
    }

    #[test]
    fn wrong_json_types_are_rejected_in_every_mode() {
        let deploys = find("apps", "v1", "deployments").expect("deployments");
        let mut d =
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"three"}});
        let err = check(deploys, &mut d, Mode::Ignore).expect_err("type error");
        assert_eq!(
            err.to_string(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        let mut ok = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","creationTimestamp":null},
            "spec":{"replicas":2,"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}}}});
        assert!(check(deploys, &mut ok, Mode::Strict).expect("valid").is_empty());
    }

    #[test]
    fn nested_fields_and_inlined_structs() {
        let pods = find("", "v1", "pods").expect("pods");
        let mut pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
            "containers":[{"name":"c","image":"i","imagePullPolicy":"Always","foo":1,
                "livenessProbe":{"httpGet":{"path":"/","port":80},"periodSeconds":3},
                "resources":{"limits":{"cpu":"1"}}}],
            "volumes":[{"name":"v","configMap":{"name":"cm","bar":true}}]}});
        let unknown = prune_unknown(pods, &mut pod);
        assert_eq!(unknown, vec!["spec.containers[0].foo", "spec.volumes[0].configMap.bar"]);
        assert_eq!(pod["spec"]["volumes"][0], json!({"name":"v","configMap":{"name":"cm"}}));
    }
}
