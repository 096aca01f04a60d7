//! core/v1 Namespace: `kubernetes` finalizer, phase Active, the
//! `kubernetes.io/metadata.name` label, DNS-1123 label names.

use serde_json::{json, Value};

use super::{age, col, s, Column, Strategy, AGE, NAME};
use crate::registry::validation::NameRule;

pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
        self.defaults(obj);
    }

    fn defaults(&self, obj: &mut Value) {
        let name = crate::registry::meta::name(obj).to_string();
        let meta = crate::registry::meta::meta_mut(obj);
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Value::Object(l) = labels {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // spec.finalizers only change through the finalize subresource.
        if let Some(f) = old.pointer("/spec/finalizers") {
            new["spec"] = json!({"finalizers": f.clone()});
        }
        self.defaults(new);
    }

    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Status", "string", 0), AGE]
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(s(obj, "/status/phase")),
            json!(age(obj)),
        ]
    }
}
