//! The CRD controllers every apiserver runs against the store (kube's naming, establishing
//! and finalizing controllers plus the CRD handler's serving switch), driven by one watch on
//! CRDs, so CRDs created through any apiserver on the store (ours or a stock kube-apiserver)
//! get served here within about a second:
//! - names: `status.acceptedNames` and `NamesAccepted` (conflicts with other CRDs' accepted
//!   names or built-ins of the group refused with kube's reasons), then `Established`;
//! - serving: the rows of established CRDs become `resources`' dynamic rows;
//! - cleanup: a CRD being deleted with the `customresourcecleanup` finalizer has its custom
//!   resources deleted, then the finalizer removed (which deletes the CRD).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::definition::{self, condition_true, set_condition, CLEANUP_FINALIZER};
use crate::error::{ApiError, Result};
use crate::registry::generic::{DeleteOptions, ListOptions, Store};
use crate::registry::meta;
use crate::registry::resources::{self, ResourceInfo, Subresource, RESOURCES};
use crate::registry::selector::Predicate;
use crate::registry::strategy::s;

/// `(group, plural)` of CRDs being deleted: creating their resources is refused.
static TERMINATING: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Whether `res` belongs to a CRD being deleted.
pub fn terminating(res: &ResourceInfo) -> bool {
    let g = TERMINATING.lock().unwrap_or_else(|p| p.into_inner());
    g.iter().any(|(gr, pl)| gr == res.group && pl == res.plural)
}

fn crds() -> Result<&'static ResourceInfo> {
    resources::find("apiextensions.k8s.io", "v1", "customresourcedefinitions").ok_or(ApiError::NoSuchResource)
}

/// Run the controllers until the process ends (re-listing after store errors).
pub fn spawn(store: Arc<Store>) {
    tokio::spawn(async move {
        let cleaning: Arc<Mutex<HashSet<String>>> = Arc::default();
        loop {
            if let Err(e) = run(&store, &cleaning).await {
                tracing::warn!(error = %e, "CRD watch failed; re-listing");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn run(store: &Arc<Store>, cleaning: &Arc<Mutex<HashSet<String>>>) -> Result<()> {
    let res = crds()?;
    let list = store.list(res, None, &ListOptions::default()).await?;
    let mut all: BTreeMap<String, Value> = list
        .items
        .into_iter()
        .map(|c| (meta::name(&c).to_string(), c))
        .collect();
    reconcile(store, &all, cleaning).await;
    let rv = list.revision.to_string();
    let mut w = store.watch(res, None, Predicate::default(), Some(&rv)).await?;
    loop {
        let batch = tokio::select! {
            b = w.next() => b?,
            // Retry status writes and cleanups that failed.
            _ = tokio::time::sleep(Duration::from_secs(5)) => Some(Vec::new()),
        };
        let Some(events) = batch else {
            return Ok(());
        };
        for ev in events {
            let name = meta::name(&ev.object).to_string();
            if ev.kind == "DELETED" {
                all.remove(&name);
            } else {
                all.insert(name, ev.object);
            }
        }
        reconcile(store, &all, cleaning).await;
    }
}

/// Names claimed in `group` by others: (resource names, kinds).
fn claimed(all: &BTreeMap<String, Value>, me: &str, group: &str) -> (HashSet<String>, HashSet<String>) {
    let mut resources = HashSet::new();
    let mut kinds = HashSet::new();
    for (name, c) in all {
        if name == me || s(c, "/spec/group") != group {
            continue;
        }
        let an = &c["status"]["acceptedNames"];
        for f in ["plural", "singular"] {
            resources.insert(s(an, &format!("/{f}")).to_string());
        }
        for sn in an.get("shortNames").and_then(Value::as_array).into_iter().flatten() {
            resources.insert(sn.as_str().unwrap_or("").to_string());
        }
        kinds.insert(s(an, "/kind").to_string());
        kinds.insert(s(an, "/listKind").to_string());
    }
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        resources.insert(r.plural.to_string());
        resources.insert(r.singular.to_string());
        resources.extend(r.short_names.iter().map(|x| x.to_string()));
        kinds.insert(r.kind.to_string());
        kinds.insert(r.list_kind());
    }
    resources.remove("");
    kinds.remove("");
    (resources, kinds)
}

/// kube's NamingConditionController.calculateNamesAndConditions + the establishing
/// controller: the status a CRD should have.
fn desired_status(all: &BTreeMap<String, Value>, crd: &Value) -> Value {
    let name = meta::name(crd);
    let (used, used_kinds) = claimed(all, name, s(crd, "/spec/group"));
    let req = &crd["spec"]["names"];
    let acc = &crd["status"]["acceptedNames"];
    let mut out = crd.clone();
    let mut new_names = acc.clone();
    if !new_names.is_object() {
        new_names = json!({"plural": "", "kind": ""});
    }
    // kube's order; each conflict overwrites the condition, so the last one is reported.
    let mut conflict: Option<(&str, String)> = None;
    let fresh = |field: &str, set: &HashSet<String>| -> Result<(), String> {
        let want = s(req, &format!("/{field}"));
        if want == s(acc, &format!("/{field}")) || !set.contains(want) {
            Ok(())
        } else {
            Err(format!("{want:?} is already in use"))
        }
    };
    let mut check =
        |field: &str, reason: &'static str, set: &HashSet<String>, names: &mut Value| match fresh(field, set) {
            Ok(()) => names[field] = req.get(field).cloned().unwrap_or(json!("")),
            Err(m) => conflict = Some((reason, m)),
        };
    check("plural", "PluralConflict", &used, &mut new_names);
    check("singular", "SingularConflict", &used, &mut new_names);
    let accepted_short: Vec<Value> = acc
        .get("shortNames")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let want_short: Vec<Value> = req
        .get("shortNames")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let short_conflict = want_short.iter().rev().find(|sn| {
        let sn = sn.as_str().unwrap_or("");
        !accepted_short.iter().any(|a| a == sn) && used.contains(sn)
    });
    match short_conflict {
        Some(sn) => {
            conflict = Some((
                "ShortNamesConflict",
                format!("{:?} is already in use", sn.as_str().unwrap_or("")),
            ));
        }
        None => set_or_remove(&mut new_names, "shortNames", &want_short),
    }
    let mut check =
        |field: &str, reason: &'static str, set: &HashSet<String>, names: &mut Value| match fresh(field, set) {
            Ok(()) => names[field] = req.get(field).cloned().unwrap_or(json!("")),
            Err(m) => conflict = Some((reason, m)),
        };
    check("kind", "KindConflict", &used_kinds, &mut new_names);
    check("listKind", "ListKindConflict", &used_kinds, &mut new_names);
    let cats: Vec<Value> = req
        .get("categories")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    set_or_remove(&mut new_names, "categories", &cats);
    out["status"]["acceptedNames"] = new_names;
    match &conflict {
        Some((reason, msg)) => set_condition(&mut out, "NamesAccepted", "False", reason, msg),
        None => set_condition(&mut out, "NamesAccepted", "True", "NoConflicts", "no conflicts found"),
    }
    if !condition_true(crd, "Established") {
        match conflict {
            None => set_condition(
                &mut out,
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
            ),
            Some(_) => set_condition(
                &mut out,
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
            ),
        }
    }
    out["status"].clone()
}

fn set_or_remove(names: &mut Value, field: &str, items: &[Value]) {
    if let Some(m) = names.as_object_mut() {
        if items.is_empty() {
            m.remove(field);
        } else {
            m.insert(field.to_string(), json!(items));
        }
    }
}

/// Status equality ignoring lastTransitionTime (several apiservers may write it).
fn same_status(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

async fn reconcile(store: &Arc<Store>, all: &BTreeMap<String, Value>, cleaning: &Arc<Mutex<HashSet<String>>>) {
    let Ok(res) = crds() else { return };
    // Older CRDs claim names first.
    let mut ordered: Vec<&Value> = all.values().collect();
    ordered.sort_by_key(|c| {
        (
            meta::meta_str(c, "creationTimestamp").unwrap_or("").to_string(),
            meta::name(c).to_string(),
        )
    });
    for crd in &ordered {
        if meta::is_deleting(crd) {
            continue;
        }
        let want = desired_status(all, crd);
        if same_status(&want, &crd["status"]) {
            continue;
        }
        let name = meta::name(crd).to_string();
        let r = store
            .update(res, None, &name, Some(Subresource::Status), false, |cur| {
                let mut n = cur.clone();
                n["status"] = desired_status(all, cur);
                Ok(n)
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(crd = %name, error = %e, "cannot update CRD status");
        }
    }
    // Serve what is established (a CRD being deleted stays served for its cleanup).
    let mut rows: Vec<&'static ResourceInfo> = ordered
        .iter()
        .filter(|c| condition_true(c, "Established"))
        .flat_map(|c| definition::rows(c))
        .collect();
    rows.sort_by_key(|r| (r.group, definition::version_order(r.version), r.plural));
    rows.dedup_by(|a, b| a.group == b.group && a.version == b.version && a.plural == b.plural);
    resources::set_dynamic(rows);
    let terminating: Vec<(String, String)> = ordered
        .iter()
        .filter(|c| meta::is_deleting(c))
        .map(|c| {
            (
                s(c, "/spec/group").to_string(),
                s(c, "/status/acceptedNames/plural").to_string(),
            )
        })
        .collect();
    *TERMINATING.lock().unwrap_or_else(|p| p.into_inner()) = terminating;
    for crd in ordered.iter().filter(|c| meta::is_deleting(c)) {
        if !meta::finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER) {
            continue;
        }
        let name = meta::name(crd).to_string();
        if !cleaning.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone()) {
            continue;
        }
        let (store, cleaning, crd) = (store.clone(), cleaning.clone(), (*crd).clone());
        tokio::spawn(async move {
            if let Err(e) = cleanup(&store, &crd).await {
                tracing::warn!(crd = %name, error = %e, "custom resource cleanup failed");
            }
            cleaning.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
        });
    }
}

/// Delete every custom resource of a CRD, then drop the cleanup finalizer.
async fn cleanup(store: &Store, crd: &Value) -> Result<()> {
    let res = crds()?;
    let name = meta::name(crd);
    if let Some(row) = definition::storage_row(crd) {
        loop {
            let list = store.list(row, None, &ListOptions::default()).await?;
            if list.items.is_empty() {
                break;
            }
            for item in &list.items {
                let opts = DeleteOptions::default();
                match store.delete(row, meta::namespace(item), meta::name(item), &opts).await {
                    Ok(_) | Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let r = store
        .update(res, None, name, None, false, |cur| {
            let mut n = cur.clone();
            let fins: Vec<String> = meta::finalizers(cur)
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            meta::meta_mut(&mut n).insert("finalizers".into(), json!(fins));
            Ok(n)
        })
        .await;
    match r {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(name: &str, plural: &str, kind: &str, short: &[&str], created: &str) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"group": "example.com", "names": {"plural": plural, "singular": plural.trim_end_matches('s'),
                "kind": kind, "listKind": format!("{kind}List"), "shortNames": short}}})
    }

    #[test]
    fn names_are_accepted_unless_claimed() {
        let mut all = BTreeMap::new();
        let mut a = crd(
            "widgets.example.com",
            "widgets",
            "Widget",
            &["wd"],
            "2020-01-01T00:00:00Z",
        );
        let st = desired_status(&all, &a);
        assert_eq!(st["acceptedNames"]["shortNames"], json!(["wd"]));
        assert_eq!(st["conditions"][0]["reason"], "NoConflicts");
        assert_eq!(st["conditions"][1]["type"], "Established");
        assert_eq!(st["conditions"][1]["reason"], "InitialNamesAccepted");
        a["status"] = st;
        all.insert("widgets.example.com".to_string(), a.clone());
        let b = crd(
            "gadgets.example.com",
            "gadgets",
            "Widget",
            &["wd"],
            "2020-01-02T00:00:00Z",
        );
        let st = desired_status(&all, &b);
        assert_eq!(st["conditions"][0]["status"], "False");
        // Short name, kind and list kind conflict: the last check's reason is reported.
        assert_eq!(st["conditions"][0]["reason"], "ListKindConflict");
        assert_eq!(st["conditions"][0]["message"], "\"WidgetList\" is already in use");
        assert_eq!(st["conditions"][1]["reason"], "NotAccepted");
        assert_eq!(st["acceptedNames"]["plural"], "gadgets");
        assert!(st["acceptedNames"].get("shortNames").is_none());
        let c = crd(
            "gadgets.example.com",
            "gadgets",
            "Gadget",
            &["wd"],
            "2020-01-02T00:00:00Z",
        );
        let st = desired_status(&all, &c);
        assert_eq!(st["conditions"][0]["reason"], "ShortNamesConflict");
        assert_eq!(st["conditions"][0]["message"], "\"wd\" is already in use");
        // The first CRD keeps its names.
        assert!(same_status(&desired_status(&all, &a), &a["status"]));
    }
}
