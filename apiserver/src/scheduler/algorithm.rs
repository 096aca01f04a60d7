//! kube-scheduler's filters and scores as pure functions: pick a node for one pod given all nodes
//! and all bound pods, or say why none fits in kube-scheduler's FailedScheduling words.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::controllers::util::{
    controller_uid, is_deleting, labels, map_matches, name, namespace, quantity, s, selector_matches,
};

/// Requests kube-scheduler assumes for containers without them (scoring only).
const DEFAULT_CPU: f64 = 0.1;
const DEFAULT_MEM: f64 = 200.0 * 1024.0 * 1024.0;

/// cpu (cores), memory (bytes) a pod requests: max(sum of containers, any init container).
pub fn pod_requests(pod: &Value, non_zero: bool) -> (f64, f64) {
    let sum = |ptr: &str, default_missing: bool| -> (f64, f64) {
        let mut cpu = 0.0;
        let mut mem = 0.0;
        for c in pod.pointer(ptr).and_then(Value::as_array).into_iter().flatten() {
            let r = c.pointer("/resources/requests");
            let cr = r.and_then(|r| r.get("cpu"));
            let mr = r.and_then(|r| r.get("memory"));
            cpu += if cr.is_none() && default_missing {
                DEFAULT_CPU
            } else {
                quantity(cr)
            };
            mem += if mr.is_none() && default_missing {
                DEFAULT_MEM
            } else {
                quantity(mr)
            };
        }
        (cpu, mem)
    };
    let (mut cpu, mut mem) = sum("/spec/containers", non_zero);
    for c in pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = c.pointer("/resources/requests");
        cpu = cpu.max(quantity(r.and_then(|r| r.get("cpu"))));
        mem = mem.max(quantity(r.and_then(|r| r.get("memory"))));
    }
    (cpu, mem)
}

pub(crate) fn tolerates(pod: &Value, taint: &Value) -> bool {
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            let effect_ok = s(t, "/effect").is_empty() || s(t, "/effect") == s(taint, "/effect");
            let key_ok = s(t, "/key").is_empty() || s(t, "/key") == s(taint, "/key");
            let op = if s(t, "/operator").is_empty() {
                "Equal"
            } else {
                s(t, "/operator")
            };
            let value_ok = match op {
                "Exists" => true,
                _ => s(t, "/value") == s(taint, "/value"),
            };
            effect_ok && key_ok && value_ok && (!s(t, "/key").is_empty() || op == "Exists")
        })
}

fn node_selector_term_matches(term: &Value, node: &Value) -> bool {
    let l = labels(node);
    let exprs = term.get("matchExpressions").and_then(Value::as_array);
    let fields = term.get("matchFields").and_then(Value::as_array);
    if exprs.is_none_or(Vec::is_empty) && fields.is_none_or(Vec::is_empty) {
        return false;
    }
    for e in exprs.into_iter().flatten() {
        let key = s(e, "/key");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let have = l.get(key).and_then(Value::as_str);
        let num = |x: &str| x.parse::<i64>().ok();
        let ok = match s(e, "/operator") {
            "In" => have.is_some_and(|h| vals.contains(&h)),
            "NotIn" => have.is_none_or(|h| !vals.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            "Gt" => matches!((have.and_then(num), vals.first().and_then(|v| num(v))), (Some(h), Some(v)) if h > v),
            "Lt" => matches!((have.and_then(num), vals.first().and_then(|v| num(v))), (Some(h), Some(v)) if h < v),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    for f in fields.into_iter().flatten() {
        let vals: Vec<&str> = f
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ok = s(f, "/key") == "metadata.name"
            && match s(f, "/operator") {
                "In" => vals.contains(&name(node)),
                "NotIn" => !vals.contains(&name(node)),
                _ => false,
            };
        if !ok {
            return false;
        }
    }
    true
}

pub(crate) fn matches_node_selector(pod: &Value, node: &Value) -> bool {
    if let Some(sel) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        if !map_matches(sel, &labels(node)) {
            return false;
        }
    }
    let req =
        pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    match req.and_then(Value::as_array) {
        Some(terms) => terms.iter().any(|t| node_selector_term_matches(t, node)),
        None => true,
    }
}

fn host_ports(pod: &Value) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            if let Some(hp) = p.get("hostPort").and_then(Value::as_i64).filter(|h| *h > 0) {
                let proto = if s(p, "/protocol").is_empty() {
                    "TCP"
                } else {
                    s(p, "/protocol")
                };
                out.push((proto.to_string(), hp));
            }
        }
    }
    out
}

/// What the filters need about one node.
pub struct NodeState<'a> {
    pub node: &'a Value,
    pub pods: Vec<&'a Value>,
}

impl NodeState<'_> {
    fn requested(&self, non_zero: bool) -> (f64, f64) {
        self.pods.iter().fold((0.0, 0.0), |(c, m), p| {
            let (pc, pm) = pod_requests(p, non_zero);
            (c + pc, m + pm)
        })
    }
    fn allocatable(&self) -> (f64, f64, f64) {
        let a = self.node.pointer("/status/allocatable");
        let pods = a.and_then(|a| a.get("pods"));
        (
            quantity(a.and_then(|a| a.get("cpu"))),
            quantity(a.and_then(|a| a.get("memory"))),
            if pods.is_some() { quantity(pods) } else { 110.0 },
        )
    }
}

/// The reasons `pod` does not fit `ns` (empty: it fits), kube-scheduler's texts.
pub fn filter(pod: &Value, ns: &NodeState, all: &[NodeState]) -> Vec<String> {
    let node = ns.node;
    let mut why = Vec::new();
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        let t = serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
        if !tolerates(pod, &t) {
            why.push("node(s) were unschedulable".to_string());
            return why;
        }
    }
    if !matches_node_selector(pod, node) {
        why.push("node(s) didn't match node selector".into());
    }
    for t in node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let effect = s(t, "/effect");
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(pod, t) {
            why.push(format!(
                "node(s) had taint {{{}: {}}}, that the pod didn't tolerate",
                s(t, "/key"),
                s(t, "/value")
            ));
            break;
        }
    }
    let (acpu, amem, apods) = ns.allocatable();
    let (rcpu, rmem) = ns.requested(false);
    let (pcpu, pmem) = pod_requests(pod, false);
    if ns.pods.len() as f64 + 1.0 > apods {
        why.push("Too many pods".into());
    }
    if pcpu > 0.0 && rcpu + pcpu > acpu + 1e-9 {
        why.push("Insufficient cpu".into());
    }
    if pmem > 0.0 && rmem + pmem > amem {
        why.push("Insufficient memory".into());
    }
    let wanted = host_ports(pod);
    if !wanted.is_empty() {
        let used: Vec<(String, i64)> = ns.pods.iter().flat_map(|p| host_ports(p)).collect();
        if wanted.iter().any(|w| used.contains(w)) {
            why.push("node(s) didn't have free ports for the requested pod ports".into());
        }
    }
    if !topology_spread_ok(pod, ns, all) {
        why.push("node(s) didn't match pod topology spread constraints".into());
    }
    if let Some(specific) = inter_pod_affinity(pod, ns, all) {
        why.push("node(s) didn't match pod affinity/anti-affinity".into());
        why.push(specific.into());
    }
    why
}

/// The required terms of `pod`'s podAffinity or podAntiAffinity (`kind`).
fn required_terms<'a>(pod: &'a Value, kind: &str) -> Vec<&'a Value> {
    pod.pointer(&format!(
        "/spec/affinity/{kind}/requiredDuringSchedulingIgnoredDuringExecution"
    ))
    .and_then(Value::as_array)
    .map(|a| a.iter().collect())
    .unwrap_or_default()
}

/// Whether `other` is selected by `term` of `owner` (its namespaces, default the owner's own).
fn term_matches(term: &Value, owner: &Value, other: &Value) -> bool {
    let namespaces: Vec<&str> = term
        .get("namespaces")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ns_ok = if namespaces.is_empty() {
        namespace(other) == namespace(owner)
    } else {
        namespaces.contains(&namespace(other))
    };
    ns_ok && selector_matches(term.get("labelSelector"), &labels(other), true)
}

fn topology<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// kube's InterPodAffinity filter (required terms): the specific reason when `ns` fails it.
fn inter_pod_affinity(pod: &Value, ns: &NodeState, all: &[NodeState]) -> Option<&'static str> {
    let node = ns.node;
    let existing = || all.iter().flat_map(|o| o.pods.iter().map(move |p| (o.node, *p)));
    // Affinity: every term needs a matching pod in the node's domain for that term.
    let affinity = required_terms(pod, "podAffinity");
    if !affinity.is_empty() {
        let mut any_match = false;
        let mut ok = true;
        for term in &affinity {
            let key = s(term, "/topologyKey");
            let Some(mine) = topology(node, key) else {
                return Some("node(s) didn't match pod affinity rules");
            };
            let found = existing().any(|(n, p)| {
                let all_terms = affinity.iter().all(|t| term_matches(t, pod, p));
                any_match |= all_terms;
                all_terms && topology(n, key) == Some(mine)
            });
            ok &= found;
        }
        // The first of a group of pods that attract each other may go anywhere its terms allow.
        let self_match = affinity.iter().all(|t| term_matches(t, pod, pod));
        let first_of_group = self_match && !any_match;
        if !ok && !first_of_group {
            return Some("node(s) didn't match pod affinity rules");
        }
    }
    // Anti-affinity of the new pod: no matching pod in the node's domain.
    for term in required_terms(pod, "podAntiAffinity") {
        let key = s(term, "/topologyKey");
        if let Some(mine) = topology(node, key) {
            if existing().any(|(n, p)| topology(n, key) == Some(mine) && term_matches(term, pod, p)) {
                return Some("node(s) didn't match pod anti-affinity rules");
            }
        }
    }
    // Anti-affinity of the pods already placed, toward the new pod.
    for (n, p) in existing() {
        for term in required_terms(p, "podAntiAffinity") {
            let key = s(term, "/topologyKey");
            if let (Some(theirs), Some(mine)) = (topology(n, key), topology(node, key)) {
                if theirs == mine && term_matches(term, p, pod) {
                    return Some("node(s) didn't satisfy existing pods anti-affinity rules");
                }
            }
        }
    }
    None
}

/// PodTopologySpread, DoNotSchedule constraints only.
fn topology_spread_ok(pod: &Value, ns: &NodeState, all: &[NodeState]) -> bool {
    let Some(cs) = pod.pointer("/spec/topologySpreadConstraints").and_then(Value::as_array) else {
        return true;
    };
    for c in cs.iter().filter(|c| s(c, "/whenUnsatisfiable") != "ScheduleAnyway") {
        let key = s(c, "/topologyKey");
        let max_skew = c.get("maxSkew").and_then(Value::as_i64).unwrap_or(1);
        let Some(my_domain) = labels(ns.node).get(key).and_then(Value::as_str).map(String::from) else {
            return false;
        };
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for other in all.iter().filter(|o| matches_node_selector(pod, o.node)) {
            let Some(d) = labels(other.node).get(key).and_then(Value::as_str).map(String::from) else {
                continue;
            };
            let n = other
                .pods
                .iter()
                .filter(|p| {
                    namespace(p) == namespace(pod) && selector_matches(c.get("labelSelector"), &labels(p), true)
                })
                .count() as i64;
            *counts.entry(d).or_default() += n;
        }
        let min = counts.values().copied().min().unwrap_or(0);
        let mine = counts.get(&my_domain).copied().unwrap_or(0);
        let self_match = i64::from(selector_matches(c.get("labelSelector"), &labels(pod), true));
        if mine + self_match - min > max_skew {
            return false;
        }
    }
    true
}

/// 0..=100 per score plugin, summed: least allocated, balanced allocation, selector spreading.
pub fn score(pod: &Value, ns: &NodeState) -> f64 {
    let (acpu, amem, _) = ns.allocatable();
    let (rcpu, rmem) = ns.requested(true);
    let (pcpu, pmem) = pod_requests(pod, true);
    let frac = |req: f64, alloc: f64| if alloc <= 0.0 { 1.0 } else { ((req) / alloc).min(1.0) };
    let fc = frac(rcpu + pcpu, acpu);
    let fm = frac(rmem + pmem, amem);
    let least = ((1.0 - fc) * 100.0 + (1.0 - fm) * 100.0) / 2.0;
    let balanced = 100.0 - (fc - fm).abs() * 100.0;
    let spread = match controller_uid(pod) {
        Some(owner) => {
            let same = ns.pods.iter().filter(|p| controller_uid(p) == Some(owner)).count() as f64;
            100.0 / (1.0 + same)
        }
        None => 0.0,
    };
    least + balanced + 2.0 * spread
}

/// The preferred inter-pod (anti-)affinity of `pod` toward the pods in `ns`'s domains, and
/// theirs toward it (kube's InterPodAffinity score, before normalisation).
fn inter_pod_preference(pod: &Value, ns: &NodeState, all: &[NodeState]) -> f64 {
    let terms = |p: &Value, kind: &str| -> Vec<(f64, Value)> {
        p.pointer(&format!(
            "/spec/affinity/{kind}/preferredDuringSchedulingIgnoredDuringExecution"
        ))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let weight = w.get("weight").and_then(Value::as_f64)?;
            Some((weight, w.get("podAffinityTerm")?.clone()))
        })
        .collect()
    };
    let mut total = 0.0;
    for other in all {
        for p in &other.pods {
            for (sign, kind) in [(1.0, "podAffinity"), (-1.0, "podAntiAffinity")] {
                for (w, term) in terms(pod, kind) {
                    let key = s(&term, "/topologyKey");
                    if topology(ns.node, key).is_some()
                        && topology(ns.node, key) == topology(other.node, key)
                        && term_matches(&term, pod, p)
                    {
                        total += sign * w;
                    }
                }
                for (w, term) in terms(p, kind) {
                    let key = s(&term, "/topologyKey");
                    if topology(ns.node, key).is_some()
                        && topology(ns.node, key) == topology(other.node, key)
                        && term_matches(&term, p, pod)
                    {
                        total += sign * w;
                    }
                }
            }
        }
    }
    total
}

/// The size of `image` on `node`, if the node has it (names compared with an implied `:latest`).
fn image_size(node: &Value, image: &str) -> Option<f64> {
    let norm = |i: &str| {
        let tagged = i.rsplit('/').next().is_some_and(|last| last.contains(':')) || i.contains('@');
        if tagged {
            i.to_string()
        } else {
            format!("{i}:latest")
        }
    };
    let want = norm(image);
    node.pointer("/status/images")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| {
            e.get("names").and_then(Value::as_array).is_some_and(|n| {
                n.iter()
                    .filter_map(Value::as_str)
                    .any(|n| norm(n) == want || n.ends_with(&format!("/{want}")))
            })
        })
        .and_then(|e| e.get("sizeBytes").and_then(Value::as_f64))
}

/// kube's ImageLocality score: the sizes of the pod's images already on the node, each scaled
/// by the share of nodes that have it, between 23 MB and 1000 MB per container.
fn image_locality(pod: &Value, ns: &NodeState, all: &[NodeState]) -> f64 {
    const MIN: f64 = 23.0 * 1024.0 * 1024.0;
    const MAX_PER_CONTAINER: f64 = 1000.0 * 1024.0 * 1024.0;
    let images: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| s(c, "/image"))
        .collect();
    if images.is_empty() || all.is_empty() {
        return 0.0;
    }
    let sum: f64 = images
        .iter()
        .filter_map(|img| {
            let size = image_size(ns.node, img)?;
            let spread = all.iter().filter(|o| image_size(o.node, img).is_some()).count() as f64 / all.len() as f64;
            Some(size * spread)
        })
        .sum();
    let max = MAX_PER_CONTAINER * images.len() as f64;
    (sum.clamp(MIN, max) - MIN) * 100.0 / (max - MIN)
}

/// Where `pod` goes, or the FailedScheduling message.
pub fn schedule(pod: &Value, nodes: &[NodeState]) -> Result<String, String> {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible: Vec<&NodeState> = Vec::new();
    for ns in nodes {
        let why = filter(pod, ns, nodes);
        if why.is_empty() {
            feasible.push(ns);
        } else {
            for w in why {
                *reasons.entry(w).or_default() += 1;
            }
        }
    }
    // Scores normalised over the feasible nodes (kube's NormalizeScore), then summed.
    let affinity: Vec<f64> = feasible.iter().map(|ns| inter_pod_preference(pod, ns, nodes)).collect();
    let (lo, hi) = affinity
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let mut best: Option<(f64, &str)> = None;
    for (i, ns) in feasible.iter().enumerate() {
        let aff = if hi > lo {
            (affinity[i] - lo) * 100.0 / (hi - lo)
        } else {
            0.0
        };
        let sc = score(pod, ns) + image_locality(pod, ns, nodes) + aff;
        if best.is_none_or(|(b, _)| sc > b) {
            best = Some((sc, name(ns.node)));
        }
    }
    if let Some((_, n)) = best {
        return Ok(n.to_string());
    }
    if nodes.is_empty() {
        return Err("0/0 nodes are available.".into());
    }
    let parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
    Err(format!("0/{} nodes are available: {}.", nodes.len(), parts.join(", ")))
}

/// Group bound, live pods by node name.
pub fn node_states<'a>(nodes: &'a [Value], pods: &'a [Value]) -> Vec<NodeState<'a>> {
    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for p in pods {
        let phase = s(p, "/status/phase");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let n = s(p, "/spec/nodeName");
        if !n.is_empty() {
            by_node.entry(n).or_default().push(p);
        }
    }
    nodes
        .iter()
        .filter(|n| !is_deleting(n))
        .map(|n| NodeState {
            node: n,
            pods: by_node.remove(name(n)).unwrap_or_default(),
        })
        .collect()
}

/// A label map helper for tests and callers.
pub fn label_map(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str, extra: Value) -> Value {
        let mut n = json!({"metadata":{"name":name,"labels":{"kubernetes.io/hostname":name}},
            "status":{"allocatable":{"cpu":cpu,"memory":"4Gi","pods":"110"}}});
        if let (Some(o), Some(e)) = (n.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        n
    }

    fn pod(cpu: &str) -> Value {
        json!({"metadata":{"name":"p","namespace":"d","labels":{"app":"x"}},
            "spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":cpu}}}]}})
    }

    #[test]
    fn resources_fit_and_insufficient_cpu_message() {
        let nodes = vec![node("a", "1", json!({})), node("b", "2", json!({}))];
        let st = node_states(&nodes, &[]);
        assert_eq!(schedule(&pod("1500m"), &st).as_deref(), Ok("b"));
        assert_eq!(
            schedule(&pod("3"), &st),
            Err("0/2 nodes are available: 2 Insufficient cpu.".into())
        );
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let nodes = vec![node("a", "2", json!({})), node("b", "2", json!({}))];
        let mut busy = pod("1");
        busy["spec"]["nodeName"] = json!("a");
        let pods = vec![busy];
        let st = node_states(&nodes, &pods);
        assert_eq!(schedule(&pod("100m"), &st).as_deref(), Ok("b"));
    }

    #[test]
    fn taints_selectors_and_unschedulable() {
        let nodes = vec![
            node(
                "a",
                "2",
                json!({"spec":{"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]}}),
            ),
            node("b", "2", json!({"spec":{"unschedulable":true}})),
            node("c", "2", json!({})),
        ];
        let st = node_states(&nodes, &[]);
        let mut p = pod("1");
        p["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname":"zzz"});
        assert_eq!(
            schedule(&p, &st),
            Err("0/3 nodes are available: 2 node(s) didn't match node selector, 1 node(s) had taint {k: v}, that the pod didn't tolerate, 1 node(s) were unschedulable.".into())
        );
        let mut t = pod("1");
        t["spec"]["tolerations"] = json!([{"key":"k","operator":"Exists"}]);
        t["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname":"a"});
        assert_eq!(schedule(&t, &st).as_deref(), Ok("a"));
    }

    #[test]
    fn topology_spread_and_node_affinity() {
        let nodes = vec![node("a", "8", json!({})), node("b", "8", json!({}))];
        let mut on_a = pod("100m");
        on_a["spec"]["nodeName"] = json!("a");
        let pods = vec![on_a];
        let st = node_states(&nodes, &pods);
        let mut p = pod("100m");
        p["spec"]["topologySpreadConstraints"] = json!([{"maxSkew":1,"topologyKey":"kubernetes.io/hostname",
            "whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"x"}}}]);
        p["spec"]["affinity"] = json!({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["a","b"]}]}]}}});
        assert!(!filter(&p, &st[0], &st).is_empty(), "a would have skew 2");
        assert_eq!(schedule(&p, &st).as_deref(), Ok("b"));
        p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"] = json!(["a"]);
        assert_eq!(
            schedule(&p, &st).as_deref(),
            Ok("a"),
            "b is not eligible so skew counts only a"
        );
    }

    #[test]
    fn inter_pod_affinity_and_anti_affinity() {
        let nodes = vec![node("a", "8", json!({})), node("b", "8", json!({}))];
        let mut db = json!({"metadata":{"name":"db","namespace":"d","labels":{"app":"db"}},
            "spec":{"nodeName":"a","containers":[{"name":"c"}]}});
        let pods = vec![db.clone()];
        let st = node_states(&nodes, &pods);
        let term = json!([{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"kubernetes.io/hostname"}]);
        let mut near = pod("100m");
        near["spec"]["affinity"] = json!({"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution": term}});
        assert_eq!(schedule(&near, &st).as_deref(), Ok("a"));
        let mut far = pod("100m");
        far["spec"]["affinity"] = json!({"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution": term}});
        assert_eq!(schedule(&far, &st).as_deref(), Ok("b"));
        // A pod in another namespace is not matched unless the term names it.
        let mut other_ns = near.clone();
        other_ns["metadata"]["namespace"] = json!("e");
        assert_eq!(
            schedule(&other_ns, &st),
            Err("0/2 nodes are available: 2 node(s) didn't match pod affinity rules, 2 node(s) didn't match pod affinity/anti-affinity.".into())
        );
        other_ns["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            ["namespaces"] = json!(["d"]);
        assert_eq!(schedule(&other_ns, &st).as_deref(), Ok("a"));
        // The placed pod's own anti-affinity keeps app=x pods off its node.
        db["spec"]["affinity"] = json!({"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
            [{"labelSelector":{"matchLabels":{"app":"x"}},"topologyKey":"kubernetes.io/hostname"}]}});
        let pods = vec![db];
        let st = node_states(&nodes, &pods);
        assert_eq!(schedule(&pod("100m"), &st).as_deref(), Ok("b"));
        assert_eq!(
            filter(&pod("100m"), &st[0], &st),
            vec![
                "node(s) didn't match pod affinity/anti-affinity".to_string(),
                "node(s) didn't satisfy existing pods anti-affinity rules".to_string()
            ]
        );
        // The first of a self-attracting group may go anywhere.
        let mut first = pod("100m");
        first["spec"]["affinity"] = json!({"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
            [{"labelSelector":{"matchLabels":{"app":"x"}},"topologyKey":"kubernetes.io/hostname"}]}});
        assert!(schedule(&first, &node_states(&nodes, &[])).is_ok());
    }

    #[test]
    fn preferred_affinity_and_image_locality_steer_the_choice() {
        let nodes = vec![node("a", "8", json!({})), node("b", "8", json!({}))];
        let cache = json!({"metadata":{"name":"cache","namespace":"d","labels":{"app":"cache"}},
            "spec":{"nodeName":"b","containers":[{"name":"c"}]}});
        let pods = vec![cache];
        let st = node_states(&nodes, &pods);
        let pref = |kind: &str| {
            json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,
                "podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"cache"}},"topologyKey":"kubernetes.io/hostname"}}]}})
        };
        // Without preferences least-allocated picks the emptier node a ...
        assert_eq!(schedule(&pod("100m"), &st).as_deref(), Ok("a"));
        // ... a preference for the cache pulls it to b, an anti-preference keeps it on a.
        let mut near = pod("100m");
        near["spec"]["affinity"] = pref("podAffinity");
        assert_eq!(schedule(&near, &st).as_deref(), Ok("b"));
        let mut far = pod("100m");
        far["spec"]["affinity"] = pref("podAntiAffinity");
        assert_eq!(schedule(&far, &st).as_deref(), Ok("a"));
        // A large image already on b draws the pod there.
        let big = json!({"status":{"allocatable":{"cpu":"8","memory":"4Gi","pods":"110"},
            "images":[{"names":["docker.io/library/big:1"],"sizeBytes":900_000_000u64}]}});
        let nodes = vec![node("a", "8", json!({})), node("b", "8", big)];
        let st = node_states(&nodes, &[]);
        let mut p = pod("100m");
        p["spec"]["containers"][0]["image"] = json!("docker.io/library/big:1");
        assert_eq!(schedule(&p, &st).as_deref(), Ok("b"));
        assert!(image_locality(&p, &st[1], &st) > image_locality(&p, &st[0], &st));
        assert_eq!(image_size(st[1].node, "docker.io/library/big:1"), Some(900_000_000.0));
        assert_eq!(
            image_size(st[1].node, "docker.io/library/big"),
            None,
            "an implied :latest"
        );
    }

    #[test]
    fn host_port_conflict() {
        let nodes = vec![node("a", "8", json!({}))];
        let mut p1 = pod("0");
        p1["spec"]["containers"][0]["ports"] = json!([{"containerPort":80,"hostPort":8080}]);
        let mut bound = p1.clone();
        bound["spec"]["nodeName"] = json!("a");
        let pods = vec![bound];
        let st = node_states(&nodes, &pods);
        assert_eq!(
            schedule(&p1, &st),
            Err("0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.".into())
        );
        let _ = label_map(&[("a", "b")]);
    }
}
