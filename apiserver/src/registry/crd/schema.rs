//! A CRD version's structural `openAPIV3Schema` applied to custom resources: validation with
//! kube-apiserver 1.20's messages (go-openapi's texts wrapped in `field.Error`s), pruning of
//! unknown fields and defaulting from `default:`.
//!
//! Schemas stay `serde_json::Value`s (JSONSchemaProps as stored). Paths are go-openapi's:
//! `spec.replicas`, list items as `spec.items.0`, map values as `spec.labels.key`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::registry::validation::FieldError;

const MAX_DEPTH: usize = 64;

fn child(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn props(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// `additionalProperties` when it is a schema.
fn additional(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

/// The JSON type of a value as go-openapi names it (Go decodes integral numbers as int64).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A schema number as Go's `%v` prints a float64 (`1`, `1.5`).
fn go_number(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => json!(f as i64),
        _ => v.clone(),
    }
}

fn go_number_text(v: &Value) -> String {
    go_number(v).to_string()
}

fn regex(pattern: &str) -> Option<regex::Regex> {
    static CACHE: Mutex<Option<HashMap<String, regex::Regex>>> = Mutex::new(None);
    let mut g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if let Some(r) = map.get(pattern) {
        return Some(r.clone());
    }
    let r = regex::Regex::new(pattern).ok()?;
    if map.len() < 1024 {
        map.insert(pattern.to_string(), r.clone());
    }
    Some(r)
}

/// Whether a pattern compiles (CRD validation).
pub fn valid_pattern(pattern: &str) -> bool {
    regex(pattern).is_some()
}

/// Validate `obj` against `schema`; kube's field errors in go-openapi's order (type first).
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    check(schema, obj, "", &mut errs, 0);
    errs
}

fn invalid(errs: &mut Vec<FieldError>, path: &str, value: Value, msg: String) {
    errs.push(FieldError::invalid(path, value, &msg));
}

fn check(schema: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>, depth: usize) {
    if depth > MAX_DEPTH || !schema.is_object() {
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let actual = json_type(v);
    if v.is_null() {
        if !ty.is_empty() && !flag(schema, "nullable") {
            invalid(
                errs,
                path,
                json!("null"),
                format!("{path} in body must be of type {ty}: \"null\""),
            );
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !matches!(actual, "integer" | "string") {
            invalid(
                errs,
                path,
                json!(actual),
                format!("{path} in body must be of type integer,string: \"{actual}\""),
            );
            return;
        }
    } else if !ty.is_empty() && ty != actual && !(ty == "number" && actual == "integer") {
        invalid(
            errs,
            path,
            json!(actual),
            format!("{path} in body must be of type {ty}: \"{actual}\""),
        );
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.iter().any(|a| same_json(a, v)) {
            let supported: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
            errs.push(FieldError::not_supported(path, v.clone(), &refs));
        }
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should be at most {max} chars long"),
                    );
                }
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should be at least {min} chars long"),
                    );
                }
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
                if regex(p).is_some_and(|r| !r.is_match(s)) {
                    invalid(errs, path, json!(""), format!("{path} in body should match '{p}'"));
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(max) = schema.get("maximum").filter(|m| m.is_number()) {
                let m = max.as_f64().unwrap_or(0.0);
                let excl = flag(schema, "exclusiveMaximum");
                if x > m || (excl && x == m) {
                    let rel = if excl { "less than" } else { "less than or equal to" };
                    let t = go_number_text(max);
                    invalid(
                        errs,
                        path,
                        go_number(max),
                        format!("{path} in body should be {rel} {t}"),
                    );
                }
            }
            if let Some(min) = schema.get("minimum").filter(|m| m.is_number()) {
                let m = min.as_f64().unwrap_or(0.0);
                let excl = flag(schema, "exclusiveMinimum");
                if x < m || (excl && x == m) {
                    let rel = if excl {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    let t = go_number_text(min);
                    invalid(
                        errs,
                        path,
                        go_number(min),
                        format!("{path} in body should be {rel} {t}"),
                    );
                }
            }
            if let Some(mult) = schema.get("multipleOf").and_then(Value::as_f64).filter(|m| *m > 0.0) {
                let q = x / mult;
                if (q - q.round()).abs() > 1e-9 {
                    let t = go_number_text(&json!(mult));
                    invalid(
                        errs,
                        path,
                        go_number(&json!(mult)),
                        format!("{path} in body should be a multiple of {t}"),
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should have at most {max} items"),
                    );
                }
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should have at least {min} items"),
                    );
                }
            }
            if flag(schema, "uniqueItems") {
                let dup = items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].iter().any(|b| same_json(a, b)));
                if dup {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body shouldn't contain duplicates"),
                    );
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &child(path, &i.to_string()), errs, depth + 1);
                }
            }
        }
        Value::Object(m) => {
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
                if m.len() as u64 > max {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should have at most {max} properties"),
                    );
                }
            }
            if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
                if (m.len() as u64) < min {
                    invalid(
                        errs,
                        path,
                        json!(""),
                        format!("{path} in body should have at least {min} properties"),
                    );
                }
            }
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    if !m.contains_key(r) {
                        errs.push(FieldError::required(&child(path, r), ""));
                    }
                }
            }
            let p = props(schema);
            for (k, val) in m {
                // ObjectMeta is validated as metadata, not by the schema (kube's structural
                // schemas may only restrict metadata.name/generateName).
                if depth == 0 && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                match p.and_then(|p| p.get(k)) {
                    Some(s) => check(s, val, &child(path, k), errs, depth + 1),
                    None => {
                        if let Some(a) = additional(schema) {
                            check(a, val, &child(path, k), errs, depth + 1);
                        }
                    }
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// JSON equality with 1 == 1.0 (Go compares decoded values).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Drop fields the schema does not specify (unless `x-kubernetes-preserve-unknown-fields`);
/// returns the dropped paths. At the root `apiVersion`, `kind` and `metadata` stay, as do
/// those of `x-kubernetes-embedded-resource` objects.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    prune_at(schema, obj, "", true, &mut dropped, 0);
    dropped.sort();
    dropped
}

fn prune_at(schema: &Value, v: &mut Value, path: &str, root: bool, dropped: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH || !schema.is_object() {
        return;
    }
    match v {
        Value::Object(m) => {
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let embedded = root || flag(schema, "x-kubernetes-embedded-resource");
            let p = props(schema);
            let extra = additional(schema);
            let mut gone = Vec::new();
            for (k, val) in m.iter_mut() {
                if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    // metadata is ObjectMeta; only its declared shape would matter, kept whole.
                    continue;
                }
                match (p.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) | (None, Some(s)) => prune_at(s, val, &child(path, k), false, dropped, depth + 1),
                    (None, None) if preserve => {}
                    (None, None) => gone.push(k.clone()),
                }
            }
            for k in gone {
                m.remove(&k);
                dropped.push(child(path, &k));
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(s, item, &child(path, &i.to_string()), false, dropped, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Apply `default:`s of absent fields (and of non-nullable fields that are null, which are
/// dropped when they have no default, as kube 1.20 does), top-down.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    default_at(schema, obj, 0);
}

fn default_at(schema: &Value, v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH || !schema.is_object() {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(p) = props(schema) {
                for (k, s) in p {
                    let is_null = m.get(k).is_some_and(Value::is_null);
                    if is_null && flag(s, "nullable") {
                        continue;
                    }
                    if !m.contains_key(k) || is_null {
                        match s.get("default") {
                            Some(d) => {
                                m.insert(k.clone(), d.clone());
                            }
                            None => {
                                m.remove(k);
                            }
                        }
                    }
                }
                for (k, val) in m.iter_mut() {
                    if let Some(s) = p.get(k) {
                        default_at(s, val, depth + 1);
                    }
                }
            } else if let Some(a) = additional(schema) {
                for val in m.values_mut() {
                    default_at(a, val, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items.iter_mut() {
                    default_at(s, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Structural checks of a version's schema that kube's CRD validation makes (a subset):
/// `type` at the root must be `object`, every specified property needs a type unless it
/// preserves unknown fields or is int-or-string, `pattern`s must compile, defaults must
/// validate.
pub fn structural_errors(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match schema.get("type").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(
            &format!("{path}.type"),
            "must not be empty at the root",
        )),
        Some("object") => {}
        Some(other) => errs.push(FieldError::invalid(
            &format!("{path}.type"),
            json!(other),
            "must be object at the root",
        )),
    }
    structural_walk(schema, path, &mut errs, 0);
    errs
}

fn structural_walk(schema: &Value, path: &str, errs: &mut Vec<FieldError>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        if !valid_pattern(p) {
            errs.push(FieldError::invalid(
                &format!("{path}.pattern"),
                json!(p),
                "must be a valid regular expression",
            ));
        }
    }
    let untyped_ok =
        |s: &Value| flag(s, "x-kubernetes-preserve-unknown-fields") || flag(s, "x-kubernetes-int-or-string");
    if let Some(p) = props(schema) {
        for (k, s) in p {
            let sub = format!("{path}.properties[{k}]");
            if s.get("type").and_then(Value::as_str).is_none_or(str::is_empty) && !untyped_ok(s) {
                errs.push(FieldError::required(
                    &format!("{sub}.type"),
                    "must not be empty for specified object fields",
                ));
            }
            if let Some(d) = s.get("default") {
                let mut dv = d.clone();
                prune(s, &mut dv);
                for e in validate(s, &dv) {
                    errs.push(FieldError::invalid(
                        &format!("{sub}.default"),
                        d.clone(),
                        &e.to_string(),
                    ));
                }
            }
            structural_walk(s, &sub, errs, depth + 1);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        let sub = format!("{path}.items");
        if items.get("type").and_then(Value::as_str).is_none_or(str::is_empty) && !untyped_ok(items) {
            errs.push(FieldError::required(
                &format!("{sub}.type"),
                "must not be empty for specified array items",
            ));
        }
        structural_walk(items, &sub, errs, depth + 1);
    }
    if let Some(a) = additional(schema) {
        structural_walk(a, &format!("{path}.additionalProperties"), errs, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                "ports": {"type": "array", "maxItems": 2, "items": {"type": "object", "required": ["port"],
                    "properties": {"port": {"type": "integer"}, "proto": {"type": "string", "default": "TCP"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"n": {"type": "integer"}}},
                "port": {"x-kubernetes-int-or-string": true},
                "note": {"type": "string", "nullable": true},
                "ratio": {"type": "number"},
            }},
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        }})
    }

    fn messages(obj: Value) -> Vec<String> {
        validate(&schema(), &obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn validation_messages_are_kubes() {
        assert!(
            messages(json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": "small", "replicas": 3, "port": "http", "note": null, "ratio": 2}}))
            .is_empty()
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "replicas": "3"}})),
            ["spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""]
        );
        assert_eq!(messages(json!({"spec": {}})), ["spec.size: Required value"]);
        assert_eq!(
            messages(json!({"spec": {"size": "huge"}})),
            ["spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\""]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "replicas": 0}})),
            ["spec.replicas: Invalid value: 1: spec.replicas in body should be greater than or equal to 1"]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "replicas": 11}})),
            ["spec.replicas: Invalid value: 10: spec.replicas in body should be less than or equal to 10"]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "name": "A1"}})),
            ["spec.name: Invalid value: \"\": spec.name in body should match '^[a-z]+$'"]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "name": "abcdef"}})),
            ["spec.name: Invalid value: \"\": spec.name in body should be at most 5 chars long"]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "name": "a"}})),
            ["spec.name: Invalid value: \"\": spec.name in body should be at least 2 chars long"]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "ports": [{"port": 1}, {}, {"port": "x"}]}})),
            [
                "spec.ports: Invalid value: \"\": spec.ports in body should have at most 2 items",
                "spec.ports.1.port: Required value",
                "spec.ports.2.port: Invalid value: \"string\": spec.ports.2.port in body must be of type integer: \"string\"",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "labels": {"a": 1}}})),
            ["spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "port": 1.5}})),
            ["spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\""]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "replicas": null}})),
            ["spec.replicas: Invalid value: \"null\": spec.replicas in body must be of type integer: \"null\""]
        );
        assert_eq!(
            messages(json!({"spec": {"size": "small", "free": {"n": true}}})),
            ["spec.free.n: Invalid value: \"boolean\": spec.free.n in body must be of type integer: \"boolean\""]
        );
    }

    #[test]
    fn pruning_keeps_declared_and_preserved_fields() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "labels": {"x": "y"}},
            "extra": 1,
            "spec": {"size": "small", "bogus": {"a": 1}, "ports": [{"port": 1, "junk": true}],
                "labels": {"k": "v"}, "free": {"anything": [1, 2], "n": 2}},
            "status": {"replicas": 1, "phase": "x"}});
        let dropped = prune(&schema(), &mut obj);
        assert_eq!(dropped, ["extra", "spec.bogus", "spec.ports.0.junk", "status.phase"]);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "labels": {"x": "y"}},
                "spec": {"size": "small", "ports": [{"port": 1}], "labels": {"k": "v"},
                    "free": {"anything": [1, 2], "n": 2}},
                "status": {"replicas": 1}})
        );
    }

    #[test]
    fn defaults_fill_absent_and_null_fields() {
        let mut obj = json!({"spec": {"size": "small", "ports": [{"port": 1}, {"port": 2, "proto": "UDP"}],
            "name": null, "note": null}});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(
            obj,
            json!({"spec": {"size": "small", "replicas": 1, "note": null,
                "ports": [{"port": 1, "proto": "TCP"}, {"port": 2, "proto": "UDP"}]}})
        );
        // No spec at all: nothing to default into.
        let mut empty = json!({"metadata": {}});
        apply_defaults(&schema(), &mut empty);
        assert_eq!(empty, json!({"metadata": {}}));
    }

    #[test]
    fn structural_checks() {
        assert!(structural_errors(&schema(), "spec.versions[0].schema.openAPIV3Schema").is_empty());
        let bad = json!({"properties": {"a": {}, "b": {"type": "string", "pattern": "("},
            "c": {"type": "integer", "default": "x"}}});
        let errs: Vec<String> = structural_errors(&bad, "s").iter().map(ToString::to_string).collect();
        assert_eq!(errs[0], "s.type: Required value: must not be empty at the root");
        assert!(errs.contains(
            &"s.properties[a].type: Required value: must not be empty for specified object fields".to_string()
        ));
        assert!(errs
            .iter()
            .any(|e| e.starts_with("s.properties[b].pattern: Invalid value: \"(\"")));
        assert!(errs
            .iter()
            .any(|e| e.starts_with("s.properties[c].default: Invalid value: \"x\"")));
    }
}
