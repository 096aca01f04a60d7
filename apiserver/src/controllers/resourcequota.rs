//! ResourceQuota controller: keeps every quota's `status.hard` equal to `spec.hard` and
//! `status.used` equal to what the objects of its namespace that it selects use (kube's
//! resourcequota controller), correcting what admission charged for creates that failed and
//! releasing what deleted objects held.

use std::collections::BTreeSet;

use serde_json::Value;

use super::util::{is_deleting, name, namespace};
use super::Action;
use crate::quantity::Quantity;
use crate::quota::{selects, to_json, usage, usage_of, Usage};

/// Which resource (group, plural) a quota resource name counts.
pub fn source(resource: &str) -> (String, String) {
    let core = |p: &str| (String::new(), p.to_string());
    match resource {
        "requests.storage" | "persistentvolumeclaims" => core("persistentvolumeclaims"),
        r if r.contains(".storageclass.storage.k8s.io/") => core("persistentvolumeclaims"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "configmaps" | "secrets" | "resourcequotas" | "replicationcontrollers" => core(resource),
        r => match r.strip_prefix("count/") {
            Some(pg) => match pg.split_once('.') {
                Some((plural, group)) => (group.to_string(), plural.to_string()),
                None => core(pg),
            },
            None => core("pods"),
        },
    }
}

/// Everything the quotas in `quotas` need listed.
pub fn sources(quotas: &[Value]) -> BTreeSet<(String, String)> {
    quotas
        .iter()
        .flat_map(|q| usage_of(q.pointer("/spec/hard")).into_keys())
        .map(|r| source(&r))
        .collect()
}

/// Lower counts than `status.used` are written only once the same recount has been seen for
/// `SETTLE`: admission charges a quota before the object it admits is stored, so a recount in
/// between would undo the charge and let the next create past a full quota.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Recounts seen lower than `status.used`, per quota uid: (the recount, first seen).
pub type Pending = std::collections::HashMap<String, (Usage, std::time::Instant)>;

/// `objects`: (group, plural, object) of every listed source.
pub fn reconcile(
    quotas: &[Value],
    objects: &[(String, String, Value)],
    pending: &mut Pending,
    now: std::time::Instant,
) -> Vec<Action> {
    let mut out = Vec::new();
    pending.retain(|uid, _| quotas.iter().any(|q| super::util::uid(q) == uid));
    for q in quotas.iter().filter(|q| !is_deleting(q)) {
        let ns = namespace(q);
        let hard = usage_of(q.pointer("/spec/hard"));
        let mut used: Usage = hard.keys().map(|k| (k.clone(), Quantity::ZERO)).collect();
        for (group, plural, obj) in objects {
            if namespace(obj) != ns || !selects(q, group, plural, obj) {
                continue;
            }
            for (k, v) in usage(group, plural, obj) {
                if let Some(total) = used.get_mut(&k) {
                    *total = *total + v;
                }
            }
        }
        let same = |a: &Usage, b: &Usage| a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v));
        let status_hard = usage_of(q.pointer("/status/hard"));
        let status_used = usage_of(q.pointer("/status/used"));
        if same(&hard, &status_hard) && same(&used, &status_used) {
            pending.remove(super::util::uid(q));
            continue;
        }
        let lower = used.iter().any(|(k, v)| status_used.get(k).is_some_and(|s| v < s));
        if lower && same(&hard, &status_hard) {
            let uid = super::util::uid(q).to_string();
            match pending.get(&uid) {
                Some((seen, since)) if same(seen, &used) && now.duration_since(*since) >= SETTLE => {
                    pending.remove(&uid);
                }
                Some((seen, _)) if same(seen, &used) => continue,
                _ => {
                    pending.insert(uid, (used.clone(), now));
                    continue;
                }
            }
        }
        let mut next = q.clone();
        next["status"] = serde_json::json!({"hard": to_json(&hard), "used": to_json(&used)});
        out.push(Action::Update {
            path: format!("/api/v1/namespaces/{ns}/resourcequotas/{}/status", name(q)),
            obj: next,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_follows_spec_and_usage() {
        let q = json!({"metadata":{"name":"q","namespace":"a","resourceVersion":"5"},
            "spec":{"hard":{"pods":"3","requests.cpu":"2","count/deployments.apps":"1"}}});
        let pod = |ns: &str, cpu: &str| {
            (
                "".to_string(),
                "pods".to_string(),
                json!({"metadata":{"namespace":ns},"spec":{"containers":[{"resources":{"requests":{"cpu":cpu}}}]}}),
            )
        };
        let objs = vec![
            pod("a", "500m"),
            pod("a", "250m"),
            pod("b", "1"),
            (
                "apps".to_string(),
                "deployments".to_string(),
                json!({"metadata":{"namespace":"a"}}),
            ),
        ];
        let now = std::time::Instant::now();
        let acts = reconcile(std::slice::from_ref(&q), &objs, &mut Pending::new(), now);
        let [Action::Update { path, obj }] = acts.as_slice() else {
            panic!("{acts:?}")
        };
        assert_eq!(path, "/api/v1/namespaces/a/resourcequotas/q/status");
        assert_eq!(
            obj["status"]["used"],
            json!({"pods":"2","requests.cpu":"750m","count/deployments.apps":"1"})
        );
        assert_eq!(obj["status"]["hard"]["pods"], "3");
        assert_eq!(obj["metadata"]["resourceVersion"], "5");
        // Up to date (value-equal, spelled differently): nothing to write.
        let mut synced = q.clone();
        synced["status"] = json!({"hard":{"pods":"3","requests.cpu":"2000m","count/deployments.apps":"1"},
            "used":{"pods":"2","requests.cpu":"0.75","count/deployments.apps":"1"}});
        assert!(reconcile(&[synced.clone()], &objs, &mut Pending::new(), now).is_empty());
        // A lower recount waits until it has held for SETTLE.
        let mut charged = synced.clone();
        charged["metadata"]["uid"] = json!("q1");
        charged["status"]["used"]["pods"] = json!("3");
        let mut pending = Pending::new();
        assert!(reconcile(std::slice::from_ref(&charged), &objs, &mut pending, now).is_empty());
        assert!(reconcile(std::slice::from_ref(&charged), &objs, &mut pending, now + SETTLE / 2).is_empty());
        let acts = reconcile(std::slice::from_ref(&charged), &objs, &mut pending, now + SETTLE);
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert_eq!(
            sources(&[q]),
            [
                ("".to_string(), "pods".to_string()),
                ("apps".to_string(), "deployments".to_string())
            ]
            .into_iter()
            .collect()
        );
    }
}
