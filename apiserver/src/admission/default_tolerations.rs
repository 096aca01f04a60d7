//! DefaultTolerationSeconds: pods tolerate the not-ready and unreachable NoExecute taints for
//! 300 s unless they say otherwise, so the node lifecycle controller evicts them after that.

use serde_json::{json, Value};

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const DEFAULT_SECONDS: i64 = 300;

/// Whether an existing toleration already covers `key`'s NoExecute taint.
fn tolerates(tolerations: &[Value], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k == key || (k.is_empty() && op == "Exists")) && (effect.is_empty() || effect == "NoExecute")
    })
}

pub fn admit(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let mut tolerations = match spec.get("tolerations") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return,
    };
    let mut changed = false;
    for key in [NOT_READY, UNREACHABLE] {
        if !tolerates(&tolerations, key) {
            tolerations.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": DEFAULT_SECONDS}),
            );
            changed = true;
        }
    }
    if changed {
        spec["tolerations"] = Value::Array(tolerations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_both_unless_tolerated() {
        let mut p = json!({"spec":{}});
        admit(&mut p);
        assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["spec"]["tolerations"][0]["tolerationSeconds"], 300);
        let mut p = json!({"spec":{"tolerations":[{"key":NOT_READY,"operator":"Exists","effect":"NoExecute","tolerationSeconds":5}]}});
        admit(&mut p);
        let t = p["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
        assert_eq!(t[1]["key"], UNREACHABLE);
        let mut p = json!({"spec":{"tolerations":[{"operator":"Exists"}]}});
        admit(&mut p);
        assert_eq!(
            p["spec"]["tolerations"].as_array().map(Vec::len),
            Some(1),
            "tolerates everything"
        );
    }
}
