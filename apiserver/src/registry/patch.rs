//! PATCH bodies: JSON patch (RFC 6902), merge patch (RFC 7386) and strategic
//! merge patch for the common cases `kubectl apply` and the kubelet produce.
//!
//! Strategic merge: maps merge; lists of objects merge by a per-field merge
//! key (containers/env/volumes by `name`, container ports by
//! `containerPort`, service ports by `port`, conditions/addresses by `type`,
//! ...), other lists are replaced; directives `$patch: replace|delete|merge`,
//! `$setElementOrder/<f>`, `$deleteFromPrimitiveList/<f>`, `$retainKeys`.
//! The merge keys are compiled in, as kubectl does without OpenAPI.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply (`registry::managed_fields`; only a scale subresource apply is merged
    /// strategically here).
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Apply `patch` (already parsed) to `current`.
pub fn apply(kind: PatchType, current: &Value, patch: &Value) -> Result<Value, String> {
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| format!("the server rejected our request due to an error in our request: {e}"))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| e.to_string())?;
            Ok(doc)
        }
        PatchType::Merge => {
            let mut doc = current.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic | PatchType::Apply => {
            let mut doc = current.clone();
            let Value::Object(p) = patch else {
                return Err("strategic merge patch must be a JSON object".into());
            };
            match &mut doc {
                Value::Object(d) => merge_map(d, p, &mut Vec::new()),
                _ => return Err("object to patch is not a JSON object".into()),
            }
            Ok(doc)
        }
    }
}

/// Merge key for a list field at `path` (field names from the root), if it
/// is a merge list of objects.
fn merge_key(path: &[String], field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets" => Some("name"),
        // containerStatuses/initContainerStatuses have no patchStrategy: replaced whole (the
        // kubelet's status patches rely on it to drop `state.waiting`).
        "ports" if path.len() == 1 && path[0] == "spec" => Some("port"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" | "addresses" => Some("type"),
        "hostAliases" => Some("ip"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "podIPs" | "hostIPs" => Some("ip"),
        _ => None,
    }
}

/// Primitive lists with `patchStrategy: merge` (union).
fn primitive_merge(path: &[String], field: &str) -> bool {
    field == "finalizers" && path.last().is_some_and(|p| p == "metadata")
}

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// Remove directive keys recursively (for values inserted as-is).
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| !e.get("$patch").is_some_and(|p| p == "delete" || p == "replace"))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(orig: &mut Map<String, Value>, patch: &Map<String, Value>, path: &mut Vec<String>) {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *orig = patch
                .iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect();
            return;
        }
        Some("delete") => {
            orig.clear();
            return;
        }
        _ => {}
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (orig.get_mut(field), v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if is_directive(k) {
            continue;
        }
        match v {
            Value::Null => {
                orig.remove(k);
            }
            Value::Object(pm) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    orig.remove(k);
                    continue;
                }
                match orig.get_mut(k) {
                    Some(Value::Object(om)) => {
                        path.push(k.clone());
                        merge_map(om, pm, path);
                        path.pop();
                    }
                    _ => {
                        orig.insert(k.clone(), strip(v));
                    }
                }
            }
            Value::Array(pl) => {
                let merged = match (orig.get_mut(k), merge_key(path, k)) {
                    (Some(Value::Array(ol)), Some(key)) => {
                        path.push(k.clone());
                        merge_list(ol, pl, key, path);
                        path.pop();
                        true
                    }
                    (Some(Value::Array(ol)), None) if primitive_merge(path, k) => {
                        for x in pl {
                            if !ol.contains(x) {
                                ol.push(x.clone());
                            }
                        }
                        true
                    }
                    _ => false,
                };
                if !merged {
                    orig.insert(k.clone(), strip(v));
                }
            }
            other => {
                orig.insert(k.clone(), other.clone());
            }
        }
    }
    // $setElementOrder/<field>: reorder merged lists as the patch asks.
    for (k, v) in patch {
        let Some(field) = k.strip_prefix("$setElementOrder/") else {
            continue;
        };
        let (Some(Value::Array(list)), Value::Array(order)) = (orig.get_mut(field), v) else {
            continue;
        };
        let key = merge_key(path, field);
        let pos = |item: &Value| {
            order.iter().position(|o| match key {
                Some(key) => o.get(key).is_some() && o.get(key) == item.get(key),
                None => o == item,
            })
        };
        let mut indexed: Vec<(usize, Value)> = list
            .drain(..)
            .enumerate()
            .map(|(i, item)| (pos(&item).unwrap_or(order.len() + i), item))
            .collect();
        indexed.sort_by_key(|(i, _)| *i);
        list.extend(indexed.into_iter().map(|(_, v)| v));
    }
}

fn merge_list(orig: &mut Vec<Value>, patch: &[Value], key: &str, path: &mut Vec<String>) {
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *orig = patch.iter().filter(|e| e.get("$patch").is_none()).map(strip).collect();
        return;
    }
    for item in patch {
        let Value::Object(pm) = item else {
            if !orig.contains(item) {
                orig.push(item.clone());
            }
            continue;
        };
        let id = pm.get(key);
        let found = id.and_then(|id| orig.iter().position(|o| o.get(key) == Some(id)));
        if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(id) = id {
                orig.retain(|o| o.get(key) != Some(id));
            }
            continue;
        }
        match found {
            Some(i) => {
                if let Value::Object(om) = &mut orig[i] {
                    merge_map(om, pm, path);
                }
            }
            None => orig.push(strip(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata":{"name":"p","labels":{"a":"1","b":"2"},"finalizers":["x"]},
               "spec":{"containers":[
                   {"name":"web","image":"nginx:1","ports":[{"containerPort":80,"protocol":"TCP"}],
                    "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                   {"name":"side","image":"busybox"}]}})
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let patch = json!({"metadata":{"labels":{"b":null,"c":"3"},"finalizers":["y"]},
            "spec":{"containers":[{"name":"web","image":"nginx:2","env":[{"name":"B","$patch":"delete"},{"name":"C","value":"3"}]}]}});
        let out = apply(PatchType::Strategic, &pod(), &patch).expect("patch");
        assert_eq!(out["metadata"]["labels"], json!({"a":"1","c":"3"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        let c = &out["spec"]["containers"];
        assert_eq!(c.as_array().map(Vec::len), Some(2));
        assert_eq!(c[0]["image"], "nginx:2");
        assert_eq!(c[0]["ports"][0]["containerPort"], 80);
        assert_eq!(c[0]["env"], json!([{"name":"A","value":"1"},{"name":"C","value":"3"}]));
        assert_eq!(c[1]["name"], "side");
    }

    #[test]
    fn strategic_replace_and_element_order() {
        let patch = json!({"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"web"}],
            "containers":[{"name":"side","image":"busybox:2"}]}});
        let out = apply(PatchType::Strategic, &pod(), &patch).expect("patch");
        assert_eq!(out["spec"]["containers"][0]["name"], "side");
        assert_eq!(out["spec"]["containers"][0]["image"], "busybox:2");
        let replace = json!({"status":{"addresses":[{"type":"InternalIP","address":"1.2.3.4"},{"$patch":"replace"}]}});
        let node = json!({"status":{"addresses":[{"type":"Hostname","address":"h"}]}});
        let out = apply(PatchType::Strategic, &node, &replace).expect("patch");
        assert_eq!(
            out["status"]["addresses"],
            json!([{"type":"InternalIP","address":"1.2.3.4"}])
        );
    }

    #[test]
    fn kubelet_container_status_patch_replaces_the_list() {
        let cur =
            json!({"status":{"containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ContainerCreating"}}}]}});
        let patch =
            json!({"status":{"containerStatuses":[{"name":"c","ready":true,"state":{"running":{"startedAt":"t"}}}]}});
        let out = apply(PatchType::Strategic, &cur, &patch).expect("patch");
        assert_eq!(
            out["status"]["containerStatuses"][0]["state"],
            json!({"running":{"startedAt":"t"}})
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_other_lists_replace() {
        let svc = json!({"spec":{"ports":[{"port":80,"name":"http"}],"selector":{"app":"a"}}});
        let out = apply(
            PatchType::Strategic,
            &svc,
            &json!({"spec":{"ports":[{"port":80,"targetPort":8080}]}}),
        )
        .expect("patch");
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port":80,"name":"http","targetPort":8080}])
        );
        let cmd = json!({"spec":{"args":["a","b"]}});
        let out = apply(PatchType::Strategic, &cmd, &json!({"spec":{"args":["c"]}})).expect("patch");
        assert_eq!(out["spec"]["args"], json!(["c"]));
    }

    #[test]
    fn merge_and_json_patch() {
        let out = apply(PatchType::Merge, &pod(), &json!({"metadata":{"labels":{"a":null}}})).expect("merge");
        assert_eq!(out["metadata"]["labels"], json!({"b":"2"}));
        let ops = json!([{"op":"replace","path":"/spec/containers/0/image","value":"x"},{"op":"add","path":"/metadata/labels/z","value":"9"}]);
        let out = apply(PatchType::Json, &pod(), &ops).expect("json");
        assert_eq!(out["spec"]["containers"][0]["image"], "x");
        assert_eq!(out["metadata"]["labels"]["z"], "9");
        let bad = json!([{"op":"remove","path":"/nope"}]);
        assert!(apply(PatchType::Json, &pod(), &bad).is_err());
    }
}
