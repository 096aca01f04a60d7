//! ResourceQuota admission: a new object's usage is checked against every quota of its
//! namespace that selects it and charged to the quota's `status.used` in the same optimistic
//! update (so concurrent creates cannot both take the last unit); the resourcequota controller
//! later recomputes `status.used` from what exists. Messages as kube's quota evaluator's.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::quota::{pod_missing, pretty, selects, to_json, usage, usage_of, Usage};
use crate::registry::generic::Store;
use crate::registry::resources::{find, ResourceInfo, Subresource};

/// The outcome of checking one quota: the new `status.used`, or why not.
fn charge(res: &ResourceInfo, obj: &Value, quota: &Value, delta: &Usage) -> std::result::Result<Option<Usage>, String> {
    let qname = crate::registry::meta::name(quota);
    let hard = usage_of(quota.pointer("/status/hard"));
    let used = usage_of(quota.pointer("/status/used"));
    let hard_names: BTreeSet<String> = hard.keys().cloned().collect();
    let is_pod = res.group.is_empty() && res.plural == "pods";
    if is_pod {
        let missing = pod_missing(obj, &hard_names);
        if !missing.is_empty() {
            return Err(format!("failed quota: {qname}: must specify {}", missing.join(",")));
        }
    }
    // Only what this quota constrains (quota.Mask(delta, hard)).
    let requested: Usage = delta
        .iter()
        .filter(|(k, _)| hard_names.contains(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if requested.is_empty() {
        return Ok(None);
    }
    let unknown: Vec<&str> = hard_names
        .iter()
        .filter(|k| !used.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {qname}, resources: {}",
            unknown.join(",")
        ));
    }
    let mut new_used = used.clone();
    let mut exceeded = Vec::new();
    for (k, v) in &requested {
        let now = used.get(k).copied().unwrap_or(crate::quantity::Quantity::ZERO);
        let total = now + *v;
        if hard.get(k).is_some_and(|h| total > *h) {
            exceeded.push(k.clone());
        }
        new_used.insert(k.clone(), total);
    }
    if !exceeded.is_empty() {
        let pick = |u: &Usage| -> Usage {
            exceeded
                .iter()
                .filter_map(|k| u.get(k).map(|v| (k.clone(), *v)))
                .collect()
        };
        return Err(format!(
            "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
            pretty(&pick(&requested)),
            pretty(&pick(&used)),
            pretty(&pick(&hard))
        ));
    }
    Ok(Some(new_used))
}

/// `quotas`: the namespace's ResourceQuotas as cached; each one charged is re-read and updated
/// with a compare-and-swap, so a stale cache never lets a create past a full quota.
pub async fn admit(
    store: &Store,
    res: &ResourceInfo,
    ns: &str,
    obj: &Value,
    quotas: &[Value],
    dry_run: bool,
) -> Result<()> {
    let Some(quotas_res) = find("", "v1", "resourcequotas") else {
        return Ok(());
    };
    let delta = usage(res.group, res.plural, obj);
    if delta.is_empty() {
        return Ok(());
    }
    for quota in quotas.iter().filter(|q| selects(q, res.group, res.plural, obj)) {
        // The cache says which quotas exist; the check and the charge use the stored quota
        // (a cached copy may not have its status yet).
        if dry_run {
            let qname = crate::registry::meta::name(quota);
            let fresh = store.get(quotas_res, Some(ns), qname).await;
            if let Ok(q) = fresh {
                charge(res, obj, &q, &delta).map_err(|m| super::forbidden(res, obj, m))?;
            }
            continue;
        }
        let qname = crate::registry::meta::name(quota).to_string();
        let r = store
            .update(
                quotas_res,
                Some(ns),
                &qname,
                Some(Subresource::Status),
                false,
                |cur| match charge(res, obj, cur, &delta) {
                    Ok(Some(used)) => {
                        let mut next = cur.clone();
                        next["status"]["used"] = to_json(&used);
                        Ok(next)
                    }
                    Ok(None) => Ok(cur.clone()),
                    Err(m) => Err(super::forbidden(res, obj, m)),
                },
            )
            .await;
        match r {
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> &'static ResourceInfo {
        find("", "v1", "pods").expect("pods row")
    }

    #[test]
    fn charges_refuses_and_explains() {
        let quota = json!({"metadata":{"name":"q"},"status":{
            "hard":{"pods":"2","requests.cpu":"1"},"used":{"pods":"1","requests.cpu":"700m"}}});
        let pod = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"300m"}}}]}});
        let used = charge(pods(), &pod, &quota, &usage("", "pods", &pod))
            .expect("fits")
            .expect("charged");
        assert_eq!(pretty(&used), "pods=2,requests.cpu=1");
        let big = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"500m"}}}]}});
        assert_eq!(
            charge(pods(), &big, &quota, &usage("", "pods", &big)).expect_err("over"),
            "exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=700m, limited: requests.cpu=1"
        );
        let bare = json!({"spec":{"containers":[{"name":"c"}]}});
        assert_eq!(
            charge(pods(), &bare, &quota, &usage("", "pods", &bare)).expect_err("must specify"),
            "failed quota: q: must specify requests.cpu"
        );
        let fresh = json!({"metadata":{"name":"q"},"status":{"hard":{"pods":"2"}}});
        assert_eq!(
            charge(pods(), &bare, &fresh, &usage("", "pods", &bare)).expect_err("unknown"),
            "status unknown for quota: q, resources: pods"
        );
        // A quota without status constrains nothing yet (kube reads status.hard).
        let unsynced = json!({"metadata":{"name":"q"},"spec":{"hard":{"pods":"0"}}});
        assert_eq!(charge(pods(), &bare, &unsynced, &usage("", "pods", &bare)), Ok(None));
    }
}
