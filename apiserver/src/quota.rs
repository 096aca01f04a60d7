//! Quota evaluation shared by the ResourceQuota admission plugin and the resourcequota
//! controller (kube's quota evaluators): what an object counts against a quota, which quotas
//! select it (scopes), and the pod "must specify" constraint.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::quantity::{from_json, Format, Quantity};

/// Usage per quota resource name (`pods`, `requests.cpu`, `count/deployments.apps`, …).
pub type Usage = BTreeMap<String, Quantity>;

fn one() -> Quantity {
    Quantity::from_units(1, Format::DecimalSI)
}

/// The quota names a resource is counted under: `count/<plural>[.<group>]`, plus the legacy
/// names for core kinds kube counted before object-count quota (`pods` is compute usage:
/// only running pods count for it).
fn count_names(group: &str, plural: &str) -> Vec<String> {
    let mut names = vec![if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }];
    if group.is_empty()
        && matches!(
            plural,
            "services"
                | "configmaps"
                | "secrets"
                | "persistentvolumeclaims"
                | "replicationcontrollers"
                | "resourcequotas"
        )
    {
        names.push(plural.to_string());
    }
    names
}

fn map<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    obj.pointer(ptr).and_then(Value::as_object)
}

fn containers(pod: &Value, which: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{which}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// kube's QuotaV1Pod: terminal pods, and pods past their deletion grace period, use no compute
/// resources (they still count under `count/pods`).
fn pod_counts(pod: &Value) -> bool {
    if matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) {
        return false;
    }
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    match (deleting, grace) {
        (Some(t), Some(g)) => chrono::Utc::now() <= t + chrono::Duration::seconds(g),
        _ => true,
    }
}

type List = BTreeMap<String, Quantity>;

fn add_to(sum: &mut List, l: &List) {
    for (k, v) in l {
        let e = sum.entry(k.clone()).or_insert(Quantity::ZERO);
        *e = *e + *v;
    }
}

fn max_into(out: &mut List, l: &List) {
    for (k, v) in l {
        let e = out.entry(k.clone()).or_insert(*v);
        if *v > *e {
            *e = *v;
        }
    }
}

/// An extended resource (`example.com/dongle`): a domain-prefixed name outside kubernetes.io.
fn is_extended(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// kube's podComputeUsageHelper: `pods`, the compute names and their `requests.`/`limits.` forms.
fn compute_usage(requests: &List, limits: &List) -> Usage {
    let mut u = Usage::new();
    u.insert("pods".into(), one());
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            u.insert(r.to_string(), *q);
            u.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            u.insert(format!("limits.{r}"), *q);
        }
    }
    for (r, q) in requests {
        if r.starts_with("hugepages-") {
            u.insert(r.clone(), *q);
            u.insert(format!("requests.{r}"), *q);
        }
        if is_extended(r) {
            u.insert(format!("requests.{r}"), *q);
        }
    }
    u
}

fn resources(c: &Value, field: &str) -> List {
    usage_of(c.pointer(&format!("/resources/{field}")))
}

/// A pod's compute usage: containers summed, raised to any larger init container.
pub fn pod_compute_usage(pod: &Value) -> Usage {
    let (mut req, mut lim) = (List::new(), List::new());
    for c in containers(pod, "containers") {
        add_to(&mut req, &resources(&c, "requests"));
        add_to(&mut lim, &resources(&c, "limits"));
    }
    for c in containers(pod, "initContainers") {
        max_into(&mut req, &resources(&c, "requests"));
        max_into(&mut lim, &resources(&c, "limits"));
    }
    compute_usage(&req, &lim)
}

/// Everything `obj` (of `group`/`plural`) counts for.
pub fn usage(group: &str, plural: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    if group.is_empty() && plural == "pods" && pod_counts(obj) {
        u = pod_compute_usage(obj);
    }
    if group.is_empty() && plural == "services" {
        let typ = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
        if typ == "LoadBalancer" {
            u.insert("services.loadbalancers".into(), one());
        }
        if matches!(typ, "NodePort" | "LoadBalancer") {
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
            u.insert(
                "services.nodeports".into(),
                Quantity::from_units(ports as i64, Format::DecimalSI),
            );
        }
    }
    if group.is_empty() && plural == "persistentvolumeclaims" {
        if let Some(q) = obj.pointer("/spec/resources/requests/storage").and_then(from_json) {
            u.insert("requests.storage".into(), q);
            if let Some(sc) = obj.pointer("/spec/storageClassName").and_then(Value::as_str) {
                u.insert(format!("{sc}.storageclass.storage.k8s.io/requests.storage"), q);
                u.insert(
                    format!("{sc}.storageclass.storage.k8s.io/persistentvolumeclaims"),
                    one(),
                );
            }
        }
    }
    for n in count_names(group, plural) {
        u.insert(n, one());
    }
    u
}

/// Whether a pod is BestEffort (no requests or limits on any container).
fn best_effort(pod: &Value) -> bool {
    containers(pod, "containers")
        .iter()
        .chain(containers(pod, "initContainers").iter())
        .all(|c| {
            map(c, "/resources/requests").is_none_or(Map::is_empty)
                && map(c, "/resources/limits").is_none_or(Map::is_empty)
        })
}

fn scope_matches(scope: &str, pod: &Value) -> bool {
    match scope {
        "Terminating" => pod.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()),
        "NotTerminating" => pod.pointer("/spec/activeDeadlineSeconds").is_none_or(Value::is_null),
        "BestEffort" => best_effort(pod),
        "NotBestEffort" => !best_effort(pod),
        _ => false,
    }
}

/// Whether `quota` selects `obj`: an unscoped quota selects everything; a scoped one (spec.scopes
/// or spec.scopeSelector) only pods its scopes match.
pub fn selects(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let scopes: Vec<&str> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let exprs: Vec<&Value> = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if scopes.is_empty() && exprs.is_empty() {
        return true;
    }
    if !(group.is_empty() && plural == "pods") {
        return false;
    }
    let plain = scopes.iter().all(|s| scope_matches(s, obj));
    let selected = exprs.iter().all(|e| {
        let scope = e.get("scopeName").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if scope == "PriorityClass" {
            let pc = obj
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            match op {
                "In" => values.contains(&pc),
                "NotIn" => !values.contains(&pc),
                "Exists" => !pc.is_empty(),
                "DoesNotExist" => pc.is_empty(),
                _ => false,
            }
        } else {
            scope_matches(scope, obj)
        }
    });
    plain && selected
}

/// A quantity map (`status.hard`, `status.used`) as Usage; bad values are skipped.
pub fn usage_of(v: Option<&Value>) -> Usage {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| from_json(v).map(|q| (k.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

/// Usage as a JSON quantity map.
pub fn to_json(u: &Usage) -> Value {
    Value::Object(u.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect())
}

/// kube's prettyPrint: `a=1,b=2` sorted by name.
pub fn pretty(u: &Usage) -> String {
    u.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The compute resources kube insists every container states when a quota limits them.
const MUST_SPECIFY: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// kube's pod evaluator Constraints: with cpu/memory quota'd, every container must request
/// (or limit) them explicitly. Returns the missing names, sorted.
pub fn pod_missing(pod: &Value, hard: &BTreeSet<String>) -> Vec<String> {
    let required: BTreeSet<&str> = MUST_SPECIFY.iter().copied().filter(|r| hard.contains(*r)).collect();
    let mut missing = BTreeSet::new();
    for c in containers(pod, "containers")
        .iter()
        .chain(containers(pod, "initContainers").iter())
    {
        let has = compute_usage(&resources(c, "requests"), &resources(c, "limits"));
        for r in &required {
            if !has.contains_key(*r) {
                missing.insert(r.to_string());
            }
        }
    }
    missing.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("quantity")
    }

    #[test]
    fn pod_usage_sums_containers_and_takes_the_largest_init() {
        let pod = json!({"spec":{
            "containers":[
                {"resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":"500m"}}},
                {"resources":{"requests":{"cpu":"250m","memory":"64Mi"}}}],
            "initContainers":[{"resources":{"requests":{"cpu":"2"}}}]}});
        let u = usage("", "pods", &pod);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"], q("2"), "the init container is larger");
        assert_eq!(u["cpu"], q("2"));
        assert_eq!(u["requests.memory"].to_string(), "128Mi");
        assert_eq!(u["limits.cpu"], q("500m"));
        let mut done = pod.clone();
        done["status"] = json!({"phase": "Succeeded"});
        assert_eq!(
            pretty(&usage("", "pods", &done)),
            "count/pods=1",
            "count/pods counts every pod"
        );
        let mut gone = pod.clone();
        gone["metadata"] = json!({"deletionTimestamp": "2020-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30});
        assert!(!usage("", "pods", &gone).contains_key("pods"));
        let ext = json!({"spec":{"containers":[{"resources":{"requests":{"example.com/dongle":"2","hugepages-2Mi":"4Mi"}}}]}});
        let u = usage("", "pods", &ext);
        assert_eq!(u["requests.example.com/dongle"], q("2"));
        assert_eq!(u["hugepages-2Mi"], q("4Mi"));
        assert!(!u.contains_key("example.com/dongle"));
    }

    #[test]
    fn object_counts_and_services() {
        let u = usage("apps", "deployments", &json!({}));
        assert_eq!(u.keys().collect::<Vec<_>>(), vec!["count/deployments.apps"]);
        let svc = json!({"spec":{"type":"LoadBalancer","ports":[{"port":80},{"port":443}]}});
        let u = usage("", "services", &svc);
        assert_eq!(u["services"], q("1"));
        assert_eq!(u["services.loadbalancers"], q("1"));
        assert_eq!(u["services.nodeports"], q("2"));
    }

    #[test]
    fn scopes_select_pods_only() {
        let quota = json!({"spec":{"scopes":["BestEffort"]}});
        let be = json!({"spec":{"containers":[{"name":"c"}]}});
        let burst = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"1"}}}]}});
        assert!(selects(&quota, "", "pods", &be));
        assert!(!selects(&quota, "", "pods", &burst));
        assert!(!selects(&quota, "", "configmaps", &json!({})));
        assert!(selects(&json!({"spec":{}}), "", "configmaps", &json!({})));
        let pc = json!({"spec":{"scopeSelector":{"matchExpressions":[{"scopeName":"PriorityClass","operator":"In","values":["high"]}]}}});
        assert!(selects(&pc, "", "pods", &json!({"spec":{"priorityClassName":"high"}})));
        assert!(!selects(&pc, "", "pods", &json!({"spec":{"priorityClassName":"low"}})));
    }

    #[test]
    fn must_specify_what_the_quota_limits() {
        let hard: BTreeSet<String> = ["requests.cpu", "limits.memory", "pods"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pod = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"1"}}},{"name":"bare"}]}});
        assert_eq!(pod_missing(&pod, &hard), vec!["limits.memory", "requests.cpu"]);
        let ok = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"1"},"limits":{"memory":"1Gi"}}}]}});
        assert!(pod_missing(&ok, &hard).is_empty());
        assert_eq!(
            pretty(&usage("", "configmaps", &json!({}))),
            "configmaps=1,count/configmaps=1"
        );
    }
}
