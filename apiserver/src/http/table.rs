//! `as=Table` rendering (meta.k8s.io/v1 Table) from a strategy's columns.

use serde_json::{json, Value};

use crate::registry::resources::ResourceInfo;

/// How much of each object a row embeds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

fn row(res: &ResourceInfo, obj: &Value, include: Include) -> Value {
    let object = match include {
        Include::None => Value::Null,
        Include::Object => obj.clone(),
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    };
    let mut r = json!({"cells": res.strategy.cells(obj)});
    if !object.is_null() {
        r["object"] = object;
    }
    r
}

pub fn columns(res: &ResourceInfo) -> Value {
    Value::Array(
        res.strategy
            .columns()
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.kind, "format": c.format,
                       "description": c.description, "priority": c.priority})
            })
            .collect(),
    )
}

/// A Table of `items`; `with_columns` false for watch events after the first.
pub fn table(res: &ResourceInfo, items: &[Value], list_meta: Value, include: Include, with_columns: bool) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": if with_columns { columns(res) } else { json!([]) },
        "rows": items.iter().map(|o| row(res, o, include)).collect::<Vec<_>>(),
    })
}
