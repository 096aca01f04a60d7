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

/// `objects`: (group, plural, object) of every listed source.
pub fn reconcile(quotas: &[Value], objects: &[(String, String, Value)]) -> Vec<Action> {
    let mut out = Vec::new();
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
            continue;
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
        let acts = reconcile(std::slice::from_ref(&q), &objs);
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
        assert!(reconcile(&[synced], &objs).is_empty());
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
