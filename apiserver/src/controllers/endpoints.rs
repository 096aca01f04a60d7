//! Endpoints and EndpointSlice controllers: for every Service with a selector, the addresses and
//! target ports of the pods it selects (ready ones in `addresses`, others in
//! `notReadyAddresses`), as a v1 Endpoints object and one discovery.k8s.io/v1beta1 EndpointSlice.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::util::{is_deleting, labels, map_matches, name, namespace, owner_ref, pod_is_ready, s, uid};
use super::Action;

pub const SLICE_API: &str = "discovery.k8s.io/v1beta1";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The container port a service port targets on `pod`.
fn target_port(sp: &Value, pod: &Value) -> Option<i64> {
    match sp.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(named)) => {
            if let Ok(n) = named.parse::<i64>() {
                return Some(n);
            }
            pod.pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|c| c.get("ports").and_then(Value::as_array).into_iter().flatten())
                .find(|p| s(p, "/name") == named)
                .and_then(|p| p.get("containerPort"))
                .and_then(Value::as_i64)
        }
        _ => sp.get("port").and_then(Value::as_i64),
    }
}

fn protocol(sp: &Value) -> &str {
    match s(sp, "/protocol") {
        "" => "TCP",
        p => p,
    }
}

/// Selected, addressable pods of a service (sorted by name).
fn selected<'a>(svc: &Value, pods: &'a [Value]) -> Vec<&'a Value> {
    let Some(sel) = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        return Vec::new();
    };
    let mut out: Vec<&Value> = pods
        .iter()
        .filter(|p| namespace(p) == namespace(svc) && map_matches(sel, &labels(p)))
        .filter(|p| !s(p, "/status/podIP").is_empty() && !is_deleting(p))
        .filter(|p| !matches!(s(p, "/status/phase"), "Succeeded" | "Failed"))
        .collect();
    out.sort_by(|a, b| name(a).cmp(name(b)));
    out
}

fn address(pod: &Value) -> Value {
    let mut a = json!({
        "ip": s(pod, "/status/podIP"),
        "targetRef": {"kind": "Pod", "namespace": namespace(pod), "name": name(pod), "uid": uid(pod),
                      "resourceVersion": s(pod, "/metadata/resourceVersion")},
    });
    if !s(pod, "/spec/nodeName").is_empty() {
        a["nodeName"] = json!(s(pod, "/spec/nodeName"));
    }
    a
}

/// Ports, ready addresses, not-ready addresses of one subset being built.
type Subset = (Vec<Value>, Vec<Value>, Vec<Value>);

/// The subsets of a service's Endpoints (pods grouped by their resolved port set).
pub fn subsets(svc: &Value, pods: &[Value]) -> Vec<Value> {
    let publish_all = svc.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    let sports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut groups: BTreeMap<String, Subset> = BTreeMap::new();
    for pod in selected(svc, pods) {
        let mut ports = Vec::new();
        for sp in &sports {
            if let Some(p) = target_port(sp, pod) {
                let mut ep = json!({"port": p, "protocol": protocol(sp)});
                if !s(sp, "/name").is_empty() {
                    ep["name"] = json!(s(sp, "/name"));
                }
                ports.push(ep);
            }
        }
        if ports.is_empty() && !sports.is_empty() {
            continue;
        }
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let g = groups.entry(key).or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if publish_all || pod_is_ready(pod) {
            g.1.push(address(pod));
        } else {
            g.2.push(address(pod));
        }
    }
    groups
        .into_values()
        .map(|(ports, ready, not_ready)| {
            let mut sub = Map::new();
            if !ready.is_empty() {
                sub.insert("addresses".into(), json!(ready));
            }
            if !not_ready.is_empty() {
                sub.insert("notReadyAddresses".into(), json!(not_ready));
            }
            if !ports.is_empty() {
                sub.insert("ports".into(), json!(ports));
            }
            Value::Object(sub)
        })
        .collect()
}

fn norm(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => json!([]),
        Some(v) => v.clone(),
    }
}

/// Compare while ignoring targetRef resourceVersions (they change with every pod status write).
fn strip_rv(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "resourceVersion")
                .map(|(k, v)| (k.clone(), strip_rv(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_rv).collect()),
        o => o.clone(),
    }
}

/// The EndpointSlice name of a service.
pub fn slice_name(svc: &Value) -> String {
    let u: String = uid(svc).chars().filter(char::is_ascii_alphanumeric).take(5).collect();
    format!("{}-{}", name(svc), u.to_lowercase())
}

/// Endpoints of `svc` as an EndpointSlice body (without metadata beyond the labels).
pub fn slice(svc: &Value, pods: &[Value]) -> Value {
    let publish_all = svc.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    let sports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sel = selected(svc, pods);
    let mut ports = Vec::new();
    for sp in &sports {
        let Some(p) = sel.first().and_then(|pod| target_port(sp, pod)) else {
            continue;
        };
        ports.push(json!({"name": s(sp, "/name"), "port": p, "protocol": protocol(sp)}));
    }
    let endpoints: Vec<Value> = sel
        .iter()
        .map(|pod| {
            let mut e = json!({
                "addresses": [s(pod, "/status/podIP")],
                "conditions": {"ready": publish_all || pod_is_ready(pod)},
                "targetRef": {"kind": "Pod", "namespace": namespace(pod), "name": name(pod), "uid": uid(pod)},
            });
            if !s(pod, "/spec/nodeName").is_empty() {
                e["topology"] = json!({"kubernetes.io/hostname": s(pod, "/spec/nodeName")});
            }
            e
        })
        .collect();
    json!({
        "apiVersion": SLICE_API, "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(svc), "namespace": namespace(svc),
            "labels": {SERVICE_NAME: name(svc), MANAGED_BY: "endpointslice-controller.k8s.io"},
            "ownerReferences": [owner_ref(svc, "v1", "Service")],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// Actions for the services of all namespaces.
pub fn reconcile(services: &[Value], pods: &[Value], endpoints: &[Value], slices: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    for svc in services.iter().filter(|s| !is_deleting(s)) {
        if svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            continue;
        }
        let ns = namespace(svc);
        let subs = json!(subsets(svc, pods));
        let existing = endpoints.iter().find(|e| namespace(e) == ns && name(e) == name(svc));
        match existing {
            None => out.push(Action::Create {
                path: format!("/api/v1/namespaces/{ns}/endpoints"),
                obj: json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name(svc), "namespace": ns, "labels": labels(svc)},
                    "subsets": subs}),
            }),
            Some(e) if strip_rv(&norm(e.get("subsets"))) != strip_rv(&subs) => {
                let mut e = e.clone();
                e["subsets"] = subs;
                out.push(Action::Update {
                    path: format!("/api/v1/namespaces/{ns}/endpoints/{}", name(svc)),
                    obj: e,
                });
            }
            Some(_) => {}
        }
        let want = slice(svc, pods);
        let sname = slice_name(svc);
        match slices.iter().find(|e| namespace(e) == ns && name(e) == sname) {
            None => out.push(Action::Create {
                path: format!("/apis/{SLICE_API}/namespaces/{ns}/endpointslices"),
                obj: want,
            }),
            Some(have) => {
                let same = ["endpoints", "ports"]
                    .iter()
                    .all(|k| norm(have.get(*k)) == norm(want.get(*k)));
                if !same {
                    let mut obj = have.clone();
                    obj["endpoints"] = want["endpoints"].clone();
                    obj["ports"] = want["ports"].clone();
                    out.push(Action::Update {
                        path: format!("/apis/{SLICE_API}/namespaces/{ns}/endpointslices/{sname}"),
                        obj,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(n: &str, ip: &str, ready: bool) -> Value {
        json!({"metadata":{"name":n,"namespace":"d","uid":n,"labels":{"app":"web"}},
            "spec":{"nodeName":"n1","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080}]}]},
            "status":{"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}})
    }

    fn svc() -> Value {
        json!({"metadata":{"name":"web","namespace":"d","uid":"S1-abcdef"},
            "spec":{"selector":{"app":"web"},"ports":[{"name":"h","port":80,"targetPort":"http"}]}})
    }

    #[test]
    fn endpoints_split_ready_and_resolve_named_ports() {
        let pods = vec![
            pod("a", "10.0.0.1", true),
            pod("b", "10.0.0.2", false),
            pod("c", "", true),
        ];
        let subs = subsets(&svc(), &pods);
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0]["addresses"][0]["ip"], "10.0.0.1");
        assert_eq!(subs[0]["notReadyAddresses"][0]["ip"], "10.0.0.2");
        assert_eq!(subs[0]["ports"][0], json!({"name":"h","port":8080,"protocol":"TCP"}));
        let sl = slice(&svc(), &pods);
        assert_eq!(sl["metadata"]["name"], "web-s1abc");
        assert_eq!(sl["endpoints"].as_array().map(Vec::len), Some(2));
        assert_eq!(sl["endpoints"][1]["conditions"]["ready"], false);
    }

    #[test]
    fn creates_then_is_stable() {
        let pods = vec![pod("a", "10.0.0.1", true)];
        let acts = reconcile(&[svc()], &pods, &[], &[]);
        assert_eq!(acts.len(), 2);
        let (ep, sl) = match (&acts[0], &acts[1]) {
            (Action::Create { obj: a, .. }, Action::Create { obj: b, .. }) => (a.clone(), b.clone()),
            _ => panic!("two creates"),
        };
        assert!(reconcile(&[svc()], &pods, &[ep], &[sl]).is_empty());
    }
}
