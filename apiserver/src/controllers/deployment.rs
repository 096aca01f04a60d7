//! Deployment controller: one ReplicaSet per pod template (named by the template's hash, label
//! `pod-template-hash`), rolling update within maxSurge/maxUnavailable or Recreate, revisions
//! (`deployment.kubernetes.io/revision`, reused on rollout undo), history limit, status.

use serde_json::{json, Map, Value};

use super::util::{controller_uid, i, is_deleting, name, namespace, owner_ref, s, uid};
use super::Action;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// JSON with object keys sorted, so equal objects hash equally.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// A pod template without the hash label (to compare a ReplicaSet's with the Deployment's).
fn strip_hash(tpl: &Value) -> Value {
    let mut t = tpl.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(HASH_LABEL);
        if l.is_empty() {
            if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
            }
        }
    }
    if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        m.remove("creationTimestamp");
        if m.is_empty() {
            if let Some(o) = t.as_object_mut() {
                o.remove("metadata");
            }
        }
    }
    t
}

/// fnv32a of the canonical template, spelled with kube's safe alphabet.
pub fn template_hash(tpl: &Value) -> String {
    let mut h: u32 = 0x811c9dc5;
    for b in canonical(&strip_hash(tpl)).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// maxSurge / maxUnavailable as counts (percentages: surge rounds up, unavailable down).
pub fn surge_unavailable(d: &Value, replicas: i64) -> (i64, i64) {
    let resolve = |v: Option<&Value>, default_pct: i64, round_up: bool| -> i64 {
        match v {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(p)) if p.ends_with('%') => {
                let pct = p.trim_end_matches('%').parse::<i64>().unwrap_or(default_pct);
                if round_up {
                    (pct * replicas + 99) / 100
                } else {
                    pct * replicas / 100
                }
            }
            Some(Value::String(p)) => p.parse().unwrap_or(0),
            _ => {
                if round_up {
                    (default_pct * replicas + 99) / 100
                } else {
                    default_pct * replicas / 100
                }
            }
        }
    };
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let surge = resolve(ru.and_then(|r| r.get("maxSurge")), 25, true);
    let mut unavail = resolve(ru.and_then(|r| r.get("maxUnavailable")), 25, false);
    if surge == 0 && unavail == 0 {
        unavail = 1;
    }
    (surge, unavail)
}

fn revision(rs: &Value) -> i64 {
    s(rs, &format!("/metadata/annotations/{}", REVISION.replace('/', "~1")))
        .parse()
        .unwrap_or(0)
}

fn spec_replicas(rs: &Value) -> i64 {
    i(rs, "/spec/replicas", 1)
}

fn available(rs: &Value) -> i64 {
    i(rs, "/status/availableReplicas", 0)
}

fn rs_path(ns: &str, n: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/replicasets/{n}")
}

/// The patch that scales `rs` (and records the revision), with kube's ScalingReplicaSet event
/// when the replica count changes.
fn scale(rs: &Value, to: i64, d: &Value, rev: Option<i64>) -> Vec<Action> {
    let mut ann = Map::new();
    ann.insert(
        "deployment.kubernetes.io/desired-replicas".into(),
        json!(i(d, "/spec/replicas", 1).to_string()),
    );
    if let Some(r) = rev {
        ann.insert(REVISION.into(), json!(r.to_string()));
    }
    let mut out = vec![Action::Patch {
        path: rs_path(namespace(rs), name(rs)),
        patch: json!({"metadata": {"annotations": ann}, "spec": {"replicas": to}}),
    }];
    out.extend(super::events::scaled(d, name(rs), spec_replicas(rs), to).map(Action::Event));
    out
}

/// The new ReplicaSet for `d` (not yet created).
pub fn new_replicaset(d: &Value, hash: &str, replicas: i64, rev: i64) -> Value {
    let mut tpl = d.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    super::set_label(&mut tpl, HASH_LABEL, hash);
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = selector.as_object_mut() {
        let ml = m.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(ml) = ml.as_object_mut() {
            ml.insert(HASH_LABEL.into(), json!(hash));
        }
    }
    let labels = tpl.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({}));
    let (surge, _) = surge_unavailable(d, i(d, "/spec/replicas", 1));
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", name(d)),
            "namespace": namespace(d),
            "labels": labels,
            "annotations": {
                REVISION: rev.to_string(),
                "deployment.kubernetes.io/desired-replicas": i(d, "/spec/replicas", 1).to_string(),
                "deployment.kubernetes.io/max-replicas": (i(d, "/spec/replicas", 1) + surge).to_string(),
            },
            "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": i(d, "/spec/minReadySeconds", 0),
            "selector": selector,
            "template": tpl,
        },
    })
}

/// Actions for one Deployment given the ReplicaSets of its namespace.
pub fn reconcile(d: &Value, all_rs: &[Value]) -> Vec<Action> {
    let mut out = Vec::new();
    if is_deleting(d) {
        return out;
    }
    let ns = namespace(d);
    let replicas = i(d, "/spec/replicas", 1).max(0);
    let tpl = d.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let want = canonical(&strip_hash(&tpl));
    let owned: Vec<&Value> = all_rs
        .iter()
        .filter(|r| namespace(r) == ns && controller_uid(r) == Some(uid(d)) && !is_deleting(r))
        .collect();
    let new_rs = owned.iter().copied().find(|r| {
        r.pointer("/spec/template")
            .is_some_and(|t| canonical(&strip_hash(t)) == want)
    });
    let mut olds: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|r| new_rs.is_none_or(|n| uid(n) != uid(r)))
        .collect();
    olds.sort_by_key(|r| revision(r));
    let max_old_rev = olds.iter().map(|r| revision(r)).max().unwrap_or(0);
    let (surge, unavail) = surge_unavailable(d, replicas);
    let recreate = s(d, "/spec/strategy/type") == "Recreate";
    let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let old_total: i64 = olds.iter().map(|r| spec_replicas(r)).sum();
    let old_pods: i64 = olds.iter().map(|r| i(r, "/status/replicas", 0)).sum();

    let new_rev;
    match new_rs {
        None => {
            if paused {
                return out;
            }
            new_rev = max_old_rev + 1;
            let initial = if recreate {
                if old_pods == 0 && old_total == 0 {
                    replicas
                } else {
                    0
                }
            } else if olds.is_empty() {
                replicas
            } else {
                (replicas + surge - old_total).clamp(0, replicas)
            };
            let hash = template_hash(&tpl);
            let rs = new_replicaset(d, &hash, initial, new_rev);
            let scaled = super::events::scaled(d, name(&rs), 0, initial);
            out.push(Action::Create {
                path: format!("/apis/apps/v1/namespaces/{ns}/replicasets"),
                obj: rs,
            });
            out.extend(scaled.map(Action::Event));
        }
        Some(n) => {
            new_rev = if revision(n) <= max_old_rev {
                max_old_rev + 1
            } else {
                revision(n)
            };
            let bump = (new_rev != revision(n)).then_some(new_rev);
            let cur = spec_replicas(n);
            let mut target = cur;
            if !paused {
                if recreate {
                    if old_total > 0 {
                        for o in &olds {
                            if spec_replicas(o) > 0 {
                                out.extend(scale(o, 0, d, None));
                            }
                        }
                    } else if old_pods == 0 {
                        target = replicas;
                    }
                } else if cur > replicas {
                    target = replicas;
                } else if cur < replicas {
                    let room = replicas + surge - (old_total + cur);
                    target = cur + room.clamp(0, replicas - cur);
                }
                if !recreate && target == cur {
                    // Scale old ReplicaSets down within maxUnavailable: unhealthy pods first, then
                    // as many available ones as keep `replicas - maxUnavailable` available.
                    let min_available = replicas - unavail;
                    let new_unavailable = (cur - available(n)).max(0);
                    let mut cleanup = old_total + cur - min_available - new_unavailable;
                    let mut specs: Vec<i64> = olds.iter().map(|o| spec_replicas(o)).collect();
                    for (k, o) in olds.iter().enumerate() {
                        let d = (specs[k] - available(o)).max(0).min(cleanup.max(0));
                        specs[k] -= d;
                        cleanup -= d;
                    }
                    let total_available: i64 = olds.iter().map(|o| available(o)).sum::<i64>() + available(n);
                    let mut down = (total_available - min_available).max(0);
                    for spec in specs.iter_mut() {
                        let d = (*spec).min(down);
                        *spec -= d;
                        down -= d;
                    }
                    for (k, o) in olds.iter().enumerate() {
                        if specs[k] != spec_replicas(o) {
                            out.extend(scale(o, specs[k], d, None));
                        }
                    }
                }
            }
            if target != cur || bump.is_some() {
                out.extend(scale(n, target, d, bump));
            }
        }
    }

    // Revision history: drop empty old ReplicaSets beyond the limit, oldest first.
    let limit = i(d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
    let empty: Vec<&&Value> = olds
        .iter()
        .filter(|r| spec_replicas(r) == 0 && i(r, "/status/replicas", 0) == 0)
        .collect();
    if empty.len() > limit {
        for r in &empty[..empty.len() - limit] {
            out.push(Action::Delete {
                path: rs_path(ns, name(r)),
            });
        }
    }

    // Status and the revision annotation.
    let all_replicas: i64 = owned.iter().map(|r| i(r, "/status/replicas", 0)).sum();
    let ready: i64 = owned.iter().map(|r| i(r, "/status/readyReplicas", 0)).sum();
    let avail: i64 = owned.iter().map(|r| available(r)).sum();
    let updated = new_rs.map_or(0, |n| i(n, "/status/replicas", 0));
    let complete = new_rs.is_some() && updated == replicas && all_replicas == replicas && avail >= replicas;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cond = |typ: &str, status: &str, reason: &str, message: String| {
        let prev = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| s(c, "/type") == typ));
        let keep = prev.filter(|p| s(p, "/status") == status);
        let transition = keep.map_or(now.clone(), |p| s(p, "/lastTransitionTime").to_string());
        let update = if prev.is_some_and(|p| s(p, "/reason") == reason) {
            prev.map_or(now.clone(), |p| s(p, "/lastUpdateTime").to_string())
        } else {
            now.clone()
        };
        json!({"type": typ, "status": status, "reason": reason, "message": message,
               "lastUpdateTime": update, "lastTransitionTime": transition})
    };
    let available_ok = avail >= replicas - unavail;
    let rs_name = new_rs.map_or_else(
        || format!("{}-{}", name(d), template_hash(&tpl)),
        |n| name(n).to_string(),
    );
    let conditions = vec![
        if available_ok {
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        },
        if complete {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else {
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
            )
        },
    ];
    let status = json!({
        "observedGeneration": i(d, "/metadata/generation", 1),
        "replicas": all_replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": avail,
        "unavailableReplicas": (all_replicas - avail).max(0),
    });
    let cur = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let numbers_differ = status
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| cur.get(k).and_then(Value::as_i64).unwrap_or(0) != v.as_i64().unwrap_or(0));
    let reasons = |cs: &Value| -> Vec<(String, String, String)> {
        cs.as_array()
            .into_iter()
            .flatten()
            .map(|c| (s(c, "/type").into(), s(c, "/status").into(), s(c, "/reason").into()))
            .collect()
    };
    let conds_differ = reasons(cur.get("conditions").unwrap_or(&Value::Null)) != reasons(&json!(conditions));
    if numbers_differ || conds_differ {
        let mut st = status;
        st["conditions"] = json!(conditions);
        out.push(Action::Patch {
            path: format!("/apis/apps/v1/namespaces/{ns}/deployments/{}/status", name(d)),
            patch: json!({"status": st}),
        });
    }
    let cur_rev = s(d, &format!("/metadata/annotations/{}", REVISION.replace('/', "~1")));
    if cur_rev != new_rev.to_string() {
        out.push(Action::Patch {
            path: format!("/apis/apps/v1/namespaces/{ns}/deployments/{}", name(d)),
            patch: json!({"metadata": {"annotations": {REVISION: new_rev.to_string()}}}),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(replicas: i64, image: &str) -> Value {
        json!({"metadata":{"name":"web","namespace":"d","uid":"d1","generation":1},
            "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":image}]}}}})
    }

    fn rs_for(d: &Value, replicas: i64, available: i64, rev: i64) -> Value {
        let hash = template_hash(d.pointer("/spec/template").expect("tpl"));
        let mut r = new_replicaset(d, &hash, replicas, rev);
        r["metadata"]["uid"] = json!(format!("rs-{hash}"));
        r["status"] = json!({"replicas": replicas, "availableReplicas": available, "readyReplicas": available});
        r
    }

    fn patches_to(acts: &[Action], suffix: &str) -> Vec<Value> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Patch { path, patch } if path.ends_with(suffix) => Some(patch.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn creates_first_replicaset_with_all_replicas() {
        let d = dep(4, "a");
        let acts = reconcile(&d, &[]);
        let Some(Action::Create { obj, .. }) = acts.first() else {
            panic!("create first")
        };
        let hash = template_hash(&d["spec"]["template"]);
        assert_eq!(obj["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(obj["spec"]["replicas"], 4);
        assert_eq!(
            obj["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            hash.as_str()
        );
        assert_eq!(
            obj["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
            hash.as_str()
        );
        assert_eq!(obj["metadata"]["annotations"][REVISION], "1");
        assert_eq!(
            template_hash(&obj["spec"]["template"]),
            hash,
            "hash ignores its own label"
        );
    }

    #[test]
    fn scale_up_and_down_touch_the_current_replicaset() {
        let d = dep(6, "a");
        let r = rs_for(&dep(4, "a"), 4, 4, 1);
        let acts = reconcile(&d, std::slice::from_ref(&r));
        let p = patches_to(&acts, &format!("replicasets/{}", name(&r)));
        assert_eq!(p[0]["spec"]["replicas"], 6);
        let acts = reconcile(&dep(2, "a"), std::slice::from_ref(&r));
        let p = patches_to(&acts, &format!("replicasets/{}", name(&r)));
        assert_eq!(p[0]["spec"]["replicas"], 2);
    }

    #[test]
    fn rolling_update_respects_surge_and_unavailable() {
        // 4 replicas, 25%: surge 1, unavailable 1.
        let old = rs_for(&dep(4, "a"), 4, 4, 1);
        let d = dep(4, "b");
        let acts = reconcile(&d, std::slice::from_ref(&old));
        let Some(Action::Create { obj, .. }) = acts.first() else {
            panic!("new rs")
        };
        assert_eq!(obj["spec"]["replicas"], 1, "surge allows one extra pod");
        assert_eq!(obj["metadata"]["annotations"][REVISION], "2");
        // New RS at 1 (unavailable yet): old may go down by one (4+1-3-1 = 1).
        let newrs = rs_for(&d, 1, 0, 2);
        let acts = reconcile(&d, &[old.clone(), newrs.clone()]);
        let p = patches_to(&acts, &format!("replicasets/{}", name(&old)));
        assert_eq!(p[0]["spec"]["replicas"], 3);
        // Old at 3, new at 1: new may grow to 2.
        let mut old3 = old.clone();
        old3["spec"]["replicas"] = json!(3);
        let acts = reconcile(&d, &[old3, newrs]);
        let p = patches_to(&acts, &format!("replicasets/{}", name(&rs_for(&d, 1, 0, 2))));
        assert_eq!(p[0]["spec"]["replicas"], 2);
    }

    #[test]
    fn undo_reuses_the_old_replicaset_with_a_new_revision() {
        let rs_a = rs_for(&dep(4, "a"), 0, 0, 1);
        let rs_b = rs_for(&dep(4, "b"), 4, 4, 2);
        let acts = reconcile(&dep(4, "a"), &[rs_a.clone(), rs_b]);
        assert!(!acts.iter().any(|a| matches!(a, Action::Create { .. })));
        let p = patches_to(&acts, &format!("replicasets/{}", name(&rs_a)));
        assert_eq!(p[0]["metadata"]["annotations"][REVISION], "3");
        let dp = patches_to(&acts, "deployments/web");
        assert_eq!(dp[0]["metadata"]["annotations"][REVISION], "3");
    }

    #[test]
    fn status_reports_complete_rollout() {
        let d = dep(2, "a");
        let r = rs_for(&d, 2, 2, 1);
        let acts = reconcile(&d, &[r]);
        let st = patches_to(&acts, "deployments/web/status");
        assert_eq!(st[0]["status"]["updatedReplicas"], 2);
        assert_eq!(st[0]["status"]["availableReplicas"], 2);
        assert_eq!(st[0]["status"]["conditions"][1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(surge_unavailable(&d, 10), (3, 2));
    }
}
