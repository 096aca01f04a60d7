//! `CustomResourceStrategy`: the schema-driven strategy of one served CRD version (kube's
//! `customresource` strategy + validator + table convertor): prune unknown fields, apply
//! schema defaults, validate against the structural schema, keep `status` apart when the
//! status subresource is on, printer columns for Tables, scale paths.

use serde_json::{json, Value};

use super::jsonpath::JsonPath;
use super::schema;
use crate::registry::meta;
use crate::registry::scale::ScalePaths;
use crate::registry::strategy::{age, Column, Strategy, NAME};
use crate::registry::validation::FieldError;

/// One `additionalPrinterColumns` entry.
pub struct PrinterColumn {
    pub column: Column,
    pub path: Option<JsonPath>,
}

pub struct CustomResourceStrategy {
    /// `<group>/<served version>`.
    pub api_version: String,
    /// `<group>/<storage version>`.
    pub storage_api_version: String,
    pub schema: Option<Value>,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Empty: NAME and AGE only (kube's default Age column).
    pub columns: Vec<PrinterColumn>,
}

impl CustomResourceStrategy {
    fn prune_and_default(&self, obj: &mut Value) -> Vec<String> {
        match &self.schema {
            Some(s) => {
                let dropped = schema::prune(s, obj);
                schema::apply_defaults(s, obj);
                dropped
            }
            None => Vec::new(),
        }
    }

    fn schema_errors(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = match &self.schema {
            Some(s) => schema::validate(s, obj),
            None => Vec::new(),
        };
        // kube's ValidateScaleSpec/ValidateScaleStatus.
        if let Some(p) = &self.scale {
            let field = |ptr: &str| ptr.trim_start_matches('/').replace('/', ".");
            if let Some(v) = obj.pointer(&p.spec_replicas) {
                if !v.is_i64() {
                    errs.push(FieldError::invalid(
                        &field(&p.spec_replicas),
                        v.clone(),
                        "should be an integer",
                    ));
                } else if v.as_i64().unwrap_or(0) < 0 {
                    errs.push(FieldError::invalid(
                        &field(&p.spec_replicas),
                        v.clone(),
                        "should be a non-negative integer",
                    ));
                }
            }
        }
        errs
    }
}

impl Strategy for CustomResourceStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.status {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        self.prune_and_default(obj);
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        self.schema_errors(obj)
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        self.prune_and_default(new);
    }
    fn defaults(&self, obj: &mut Value) {
        self.prune_and_default(obj);
    }
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.schema_errors(new)
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn columns(&self) -> Vec<Column> {
        let mut cols = vec![NAME];
        if self.columns.is_empty() {
            cols.push(Column {
                name: "Age",
                kind: "date",
                format: "",
                priority: 0,
                description: crate::registry::strategy::AGE.description,
            });
        }
        cols.extend(self.columns.iter().map(|c| Column { ..c.column }));
        cols
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut cells = vec![json!(meta::name(obj))];
        if self.columns.is_empty() {
            cells.push(json!(age(obj)));
        }
        for c in &self.columns {
            let v = c.path.as_ref().and_then(|p| p.first(obj));
            cells.push(cell(c.column.kind, v));
        }
        cells
    }
    fn storage_api_version(&self) -> Option<&str> {
        Some(&self.storage_api_version)
    }
    /// Stored with the storage version's apiVersion (conversion strategy None).
    fn for_storage(&self, obj: &Value) -> Option<Value> {
        let mut o = obj.clone();
        o["apiVersion"] = json!(self.storage_api_version);
        Some(o)
    }
    /// Served with the apiVersion asked for, pruned and defaulted as kube's decoder does.
    fn on_read(&self, obj: &mut Value) {
        obj["apiVersion"] = json!(self.api_version);
        self.prune_and_default(obj);
    }
    fn prune_unknown(&self, obj: &mut Value) -> Option<Vec<String>> {
        Some(match &self.schema {
            Some(s) => schema::prune(s, obj),
            None => Vec::new(),
        })
    }
    fn prepare_status_update(&self, new: &mut Value) -> Vec<FieldError> {
        self.prune_and_default(new);
        self.schema_errors(new)
    }
    fn scale_paths(&self) -> Option<&ScalePaths> {
        self.scale.as_ref()
    }
    fn openapi_schema(&self) -> Option<&Value> {
        self.schema.as_ref()
    }
}

/// kube's cellForJSONValue (strings print as JSONPath prints them).
fn cell(kind: &str, v: Option<&Value>) -> Value {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match kind {
        "integer" => match v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)) {
            Some(i) => json!(i),
            None => Value::Null,
        },
        "number" => v.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => v.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => match v.as_str() {
            Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => json!(meta::human_age(Some(s))),
            Some(_) => json!("<invalid>"),
            None => Value::Null,
        },
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy() -> CustomResourceStrategy {
        CustomResourceStrategy {
            api_version: "example.com/v1".into(),
            storage_api_version: "example.com/v1".into(),
            schema: Some(json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer", "default": 1}, "size": {"type": "string"}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}})),
            status: true,
            scale: Some(ScalePaths {
                spec_replicas: "/spec/replicas".into(),
                status_replicas: "/status/replicas".into(),
                label_selector: None,
            }),
            columns: vec![PrinterColumn {
                column: Column {
                    name: "Replicas",
                    kind: "integer",
                    format: "",
                    priority: 0,
                    description: "",
                },
                path: JsonPath::parse(".spec.replicas").ok(),
            }],
        }
    }

    #[test]
    fn create_drops_status_prunes_and_defaults() {
        let s = strategy();
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": "s", "junk": 1}, "status": {"replicas": 5}});
        s.prepare_for_create(&mut obj);
        assert_eq!(obj["spec"], json!({"size": "s", "replicas": 1}));
        assert!(obj.get("status").is_none());
        assert_eq!(s.cells(&obj), vec![json!("a"), json!(1)]);
        assert_eq!(s.columns().len(), 2);
        let mut st = obj.clone();
        st["status"] = json!({"replicas": "x"});
        assert_eq!(s.prepare_status_update(&mut st).len(), 1);
        let mut neg = obj.clone();
        neg["spec"]["replicas"] = json!(-1);
        assert_eq!(
            s.validate(&neg)[0].to_string(),
            "spec.replicas: Invalid value: -1: should be a non-negative integer"
        );
    }
}
