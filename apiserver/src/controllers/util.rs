//! Pure helpers over Kubernetes objects (`serde_json::Value`) shared by the controllers and the
//! scheduler: metav1.LabelSelector matching, quantities, owner references, pod readiness, events.

use serde_json::{json, Map, Value};

/// `obj[ptr]` as &str or "".
pub fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `obj[ptr]` as i64 or `default`.
pub fn i(obj: &Value, ptr: &str, default: i64) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

pub fn name(obj: &Value) -> &str {
    s(obj, "/metadata/name")
}

pub fn namespace(obj: &Value) -> &str {
    s(obj, "/metadata/namespace")
}

pub fn uid(obj: &Value) -> &str {
    s(obj, "/metadata/uid")
}

pub fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// Does a metav1.LabelSelector select `labels`? An empty/absent selector selects nothing
/// (`nil_matches_nothing`, as for workload controllers) or everything.
pub fn selector_matches(sel: Option<&Value>, labels: &Map<String, Value>, nil_matches_nothing: bool) -> bool {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return !nil_matches_nothing;
    };
    let ml = sel.get("matchLabels").and_then(Value::as_object);
    let me = sel.get("matchExpressions").and_then(Value::as_array);
    if ml.is_none_or(Map::is_empty) && me.is_none_or(Vec::is_empty) {
        return !nil_matches_nothing;
    }
    if let Some(ml) = ml {
        for (k, v) in ml {
            if labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    for e in me.into_iter().flatten() {
        let key = s(e, "/key");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let have = labels.get(key).and_then(Value::as_str);
        let ok = match s(e, "/operator") {
            "In" => have.is_some_and(|h| vals.contains(&h)),
            "NotIn" => have.is_none_or(|h| !vals.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A map selector (Service.spec.selector, nodeSelector): every pair must match.
pub fn map_matches(sel: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A resource quantity as a number in base units (`100m` → 0.1, `1Gi` → 1073741824).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mul) in suffixes {
        if let Some(num) = q.strip_suffix(suf) {
            return num.parse::<f64>().ok().map(|n| n * mul);
        }
    }
    q.parse::<f64>().ok()
}

/// A quantity field (string or number) as base units; 0 when absent or bad.
pub fn quantity(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::String(s)) => parse_quantity(s).unwrap_or(0.0),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The controller ownerReference's uid, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// An ownerReference to `owner` (controller, blockOwnerDeletion).
pub fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Pod phase is Running/Pending and not being deleted.
pub fn pod_is_active(pod: &Value) -> bool {
    let phase = s(pod, "/status/phase");
    phase != "Succeeded" && phase != "Failed" && !is_deleting(pod)
}

/// The pod has condition Ready=True.
pub fn pod_is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True"))
}

/// A core/v1 Event about `obj`.
pub fn event(
    obj: &Value,
    kind: &str,
    api_version: &str,
    typ: &str,
    reason: &str,
    message: &str,
    component: &str,
) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let suffix: u64 = rand::random();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", name(obj), suffix),
            "namespace": if namespace(obj).is_empty() { "default" } else { namespace(obj) },
        },
        "involvedObject": {
            "kind": kind,
            "apiVersion": api_version,
            "namespace": namespace(obj),
            "name": name(obj),
            "uid": uid(obj),
            "resourceVersion": s(obj, "/metadata/resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": typ,
        "reportingComponent": component,
        "reportingInstance": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("64Mi"), Some(67108864.0));
        assert_eq!(parse_quantity("1k"), Some(1000.0));
        assert_eq!(parse_quantity("bad"), None);
    }

    #[test]
    fn label_selectors() {
        let l = labels(&json!({"metadata":{"labels":{"app":"web","tier":"fe"}}}));
        assert!(selector_matches(Some(&json!({"matchLabels":{"app":"web"}})), &l, true));
        assert!(!selector_matches(Some(&json!({"matchLabels":{"app":"db"}})), &l, true));
        assert!(selector_matches(
            Some(&json!({"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]})),
            &l,
            true
        ));
        assert!(!selector_matches(
            Some(&json!({"matchExpressions":[{"key":"tier","operator":"DoesNotExist"}]})),
            &l,
            true
        ));
        assert!(!selector_matches(None, &l, true));
        assert!(selector_matches(Some(&json!({})), &l, false));
    }
}
