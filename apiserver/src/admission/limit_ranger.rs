//! LimitRanger: a namespace's LimitRanges default the requests and limits of containers that
//! state none (recorded in the `kubernetes.io/limit-ranger` annotation), then bound them:
//! min, max and maxLimitRequestRatio per Container and per Pod, with kube's messages.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::quantity::Quantity;
use crate::registry::resources::ResourceInfo;
use crate::registry::strategy::pod::default_requests_from_limits;

pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

type List = BTreeMap<String, Quantity>;

fn list(v: Option<&Value>) -> List {
    crate::quota::usage_of(v)
}

fn items(lr: &Value) -> Vec<Value> {
    lr.pointer("/spec/limits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Container lists with the word kube's annotation uses for them.
const CONTAINER_LISTS: [(&str, &str); 2] = [("containers", "container"), ("initContainers", "init container")];

/// Default requests and limits of all Container items of all LimitRanges (last one wins).
fn defaults(ranges: &[Value]) -> (Map<String, Value>, Map<String, Value>) {
    let (mut req, mut lim) = (Map::new(), Map::new());
    for lr in ranges {
        for item in items(lr) {
            if item.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            if let Some(m) = item.get("defaultRequest").and_then(Value::as_object) {
                req.extend(m.clone());
            }
            if let Some(m) = item.get("default").and_then(Value::as_object) {
                lim.extend(m.clone());
            }
        }
    }
    (req, lim)
}

/// mergePodResourceRequirements: fill what containers leave out; returns the annotation parts.
fn merge(pod: &mut Value, req: &Map<String, Value>, lim: &Map<String, Value>) -> Vec<String> {
    let mut notes = Vec::new();
    for (list_name, prefix) in CONTAINER_LISTS {
        let Some(cs) = pod
            .pointer_mut(&format!("/spec/{list_name}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in cs.iter_mut().filter(|c| c.is_object()) {
            default_requests_from_limits(c);
            if !c["resources"].is_object() {
                c["resources"] = json!({});
            }
            let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let mut set = |field: &str, defaults: &Map<String, Value>| -> Vec<String> {
                if !c["resources"][field].is_object() {
                    c["resources"][field] = json!({});
                }
                let mut added = Vec::new();
                if let Some(m) = c["resources"][field].as_object_mut() {
                    for (k, v) in defaults {
                        if !m.contains_key(k) {
                            m.insert(k.clone(), v.clone());
                            added.push(k.clone());
                        }
                    }
                }
                added.sort();
                added
            };
            let set_req = set("requests", req);
            let set_lim = set("limits", lim);
            if !set_req.is_empty() {
                notes.push(format!("{} request for {prefix} {name}", set_req.join(", ")));
            }
            if !set_lim.is_empty() {
                notes.push(format!("{} limit for {prefix} {name}", set_lim.join(", ")));
            }
        }
    }
    notes
}

/// minConstraint / maxConstraint / limitRequestRatioConstraint for one resource.
fn check(kind: &str, item: &Value, request: &List, limit: &List, errs: &mut Vec<String>) {
    for (resource, min) in list(item.get("min")) {
        let (req, lim) = (request.get(&resource), limit.get(&resource));
        // kube's minConstraint reports the first violation only.
        match (req, lim) {
            (None, _) => errs.push(format!(
                "minimum {resource} usage per {kind} is {min}.  No request is specified"
            )),
            (Some(r), _) if *r < min => errs.push(format!(
                "minimum {resource} usage per {kind} is {min}, but request is {r}"
            )),
            (_, Some(l)) if *l < min => errs.push(format!(
                "minimum {resource} usage per {kind} is {min}, but limit is {l}"
            )),
            _ => {}
        }
    }
    for (resource, max) in list(item.get("max")) {
        let (req, lim) = (request.get(&resource), limit.get(&resource));
        match (lim, req) {
            (None, _) => errs.push(format!(
                "maximum {resource} usage per {kind} is {max}.  No limit is specified"
            )),
            (Some(l), _) if *l > max => errs.push(format!(
                "maximum {resource} usage per {kind} is {max}, but limit is {l}"
            )),
            (_, Some(r)) if *r > max => errs.push(format!(
                "maximum {resource} usage per {kind} is {max}, but request is {r}"
            )),
            _ => {}
        }
    }
    for (resource, ratio) in list(item.get("maxLimitRequestRatio")) {
        let (req, lim) = (request.get(&resource), limit.get(&resource));
        let Some(r) = req.filter(|r| !r.is_zero()) else {
            errs.push(format!(
                "{resource} max limit to request ratio per {kind} is {ratio}, but no request is specified or request is 0"
            ));
            continue;
        };
        let Some(l) = lim.filter(|l| !l.is_zero()) else {
            errs.push(format!(
                "{resource} max limit to request ratio per {kind} is {ratio}, but no limit is specified or limit is 0"
            ));
            continue;
        };
        let observed = l.ratio(*r);
        if observed > ratio.ratio(Quantity::from_units(1, crate::quantity::Format::DecimalSI)) {
            errs.push(format!(
                "{resource} max limit to request ratio per {kind} is {ratio}, but provided ratio is {observed:.6}"
            ));
        }
    }
}

/// The pod-level requests or limits: the sum over containers of what they state, raised to
/// any init container's larger value (kube's max(sum(containers), any init container)).
fn pod_totals(pod: &Value, field: &str) -> List {
    let mut out = List::new();
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (n, q) in list(c.pointer(&format!("/resources/{field}"))) {
            let e = out.entry(n).or_insert(Quantity::ZERO);
            *e = *e + q;
        }
    }
    for c in pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (n, q) in list(c.pointer(&format!("/resources/{field}"))) {
            let e = out.entry(n).or_insert(q);
            if q > *e {
                *e = q;
            }
        }
    }
    out
}

fn validate(pod: &Value, ranges: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    for lr in ranges {
        for item in items(lr) {
            match item.get("type").and_then(Value::as_str) {
                Some("Container") => {
                    for (list_name, _) in CONTAINER_LISTS {
                        for c in pod
                            .pointer(&format!("/spec/{list_name}"))
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let req = list(c.pointer("/resources/requests"));
                            let lim = list(c.pointer("/resources/limits"));
                            check("Container", &item, &req, &lim, &mut errs);
                        }
                    }
                }
                Some("Pod") => {
                    let req = pod_totals(pod, "requests");
                    let lim = pod_totals(pod, "limits");
                    check("Pod", &item, &req, &lim, &mut errs);
                }
                _ => {}
            }
        }
    }
    errs
}

/// Default, then bound, a new pod against `ranges` (the LimitRanges of its namespace).
pub fn admit(pods: &ResourceInfo, pod: &mut Value, ranges: &[Value]) -> Result<()> {
    if ranges.is_empty() {
        return Ok(());
    }
    apply(pods, pod, ranges)
}

fn apply(pods: &ResourceInfo, pod: &mut Value, ranges: &[Value]) -> Result<()> {
    let (req, lim) = defaults(ranges);
    let notes = merge(pod, &req, &lim);
    if !notes.is_empty() && pod["metadata"].is_object() {
        if !pod["metadata"]["annotations"].is_object() {
            pod["metadata"]["annotations"] = json!({});
        }
        pod["metadata"]["annotations"][ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
    let errs = validate(pod, ranges);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(super::forbidden(pods, pod, super::aggregate(&errs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> &'static ResourceInfo {
        crate::registry::resources::find("", "v1", "pods").expect("pods row")
    }

    fn range(item: Value) -> Value {
        let mut lr = json!({"spec":{"limits":[item]}});
        crate::registry::strategy::default_limit_range(&mut lr);
        lr
    }

    #[test]
    fn defaults_fill_and_annotate() {
        let lr = range(
            json!({"type":"Container","default":{"cpu":"500m","memory":"128Mi"},"defaultRequest":{"cpu":"100m"}}),
        );
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"]["memory"], "128Mi",
            "defaultRequest ← default"
        );
        let mut pod = json!({"metadata":{"name":"p"},"spec":{"containers":[
            {"name":"a"},
            {"name":"b","resources":{"limits":{"cpu":"1"}}}]}});
        apply(pods(), &mut pod, &[lr]).expect("admitted");
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu":"100m","memory":"128Mi"})
        );
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["limits"],
            json!({"cpu":"500m","memory":"128Mi"})
        );
        // b's own limit becomes its request (pod defaulting), not the range's defaultRequest.
        assert_eq!(pod["spec"]["containers"][1]["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; memory request for container b; memory limit for container b"
        );
    }

    #[test]
    fn bounds_with_kube_messages() {
        let lr = json!({"spec":{"limits":[{"type":"Container","max":{"cpu":"1"},"min":{"memory":"64Mi"},"maxLimitRequestRatio":{"cpu":"2"}}]}});
        let mut pod = json!({"metadata":{"name":"p"},"spec":{"containers":[
            {"name":"a","resources":{"requests":{"cpu":"500m","memory":"32Mi"},"limits":{"cpu":"2"}}}]}});
        let err = apply(pods(), &mut pod, std::slice::from_ref(&lr)).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "pods \"p\" is forbidden: [minimum memory usage per Container is 64Mi, but request is 32Mi, \
             maximum cpu usage per Container is 1, but limit is 2, \
             cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000]"
        );
        let mut ok = json!({"metadata":{"name":"p"},"spec":{"containers":[
            {"name":"a","resources":{"requests":{"cpu":"500m","memory":"64Mi"},"limits":{"cpu":"1"}}}]}});
        apply(pods(), &mut ok, &[lr]).expect("within bounds");
        let pod_max = json!({"spec":{"limits":[{"type":"Pod","max":{"cpu":"1"}}]}});
        let mut two = json!({"metadata":{"generateName":"web-"},"spec":{"containers":[
            {"name":"a","resources":{"limits":{"cpu":"600m"}}},{"name":"b","resources":{"limits":{"cpu":"600m"}}}]}});
        let err = apply(pods(), &mut two, &[pod_max]).expect_err("pod total over max");
        assert_eq!(
            err.to_string(),
            "pods \"web-\" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m"
        );
    }
}
