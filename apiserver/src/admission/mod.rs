//! Admission plugins run on creates before storage, in kube-apiserver's order: the mutating
//! Priority, DefaultTolerationSeconds and LimitRanger, then the validating ResourceQuota last.
//! (NamespaceLifecycle lives in the generic store; ServiceAccount in `registry::service_account`.)
//! PriorityClasses, LimitRanges and ResourceQuotas are read from watch-kept caches, as kube's
//! plugins use informers, so a create costs no extra etcd reads.

pub mod default_tolerations;
pub mod limit_ranger;
pub mod priority;
pub mod resource_quota;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::registry::generic::Store;
use crate::registry::informer::Informer;
use crate::registry::resources::{find, ResourceInfo};

/// The caches the plugins read.
pub struct Admission {
    pub priority_classes: Arc<Informer<Value>>,
    pub limit_ranges: Arc<Informer<Value>>,
    pub quotas: Arc<Informer<Value>>,
    /// kube's live lookup: when the cache has no quota for a namespace, the store is asked,
    /// and that answer is kept for `LIVE_TTL` (a quota just created may not be cached yet).
    live_quotas: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Vec<Value>)>>,
}

/// How long a live lookup of a namespace's quotas is reused (kube: 30 s).
const LIVE_TTL: Duration = Duration::from_secs(30);

fn keep(v: &Value) -> Option<Value> {
    Some(v.clone())
}

/// How long a create waits for the caches' first list after start.
const SYNC_WAIT: Duration = Duration::from_secs(10);

fn cloned(items: Vec<Arc<Value>>) -> Vec<Value> {
    items.iter().map(|v| (**v).clone()).collect()
}

impl Admission {
    pub fn spawn(store: &Arc<Store>) -> Admission {
        let cache = |g: &str, v: &str, plural: &str| match find(g, v, plural) {
            Some(res) => Informer::spawn(store.clone(), res, keep),
            None => Informer::fixed(&[], keep),
        };
        Admission {
            priority_classes: cache("scheduling.k8s.io", "v1", "priorityclasses"),
            limit_ranges: cache("", "v1", "limitranges"),
            quotas: cache("", "v1", "resourcequotas"),
            live_quotas: Default::default(),
        }
    }

    /// Run the create-time plugins on `obj` (already carrying its namespace).
    pub async fn admit_create(
        &self,
        store: &Store,
        res: &ResourceInfo,
        ns: Option<&str>,
        obj: &mut Value,
        dry_run: bool,
    ) -> Result<()> {
        let is_pod = res.group.is_empty() && res.plural == "pods";
        if is_pod {
            self.priority_classes.wait_synced(SYNC_WAIT).await;
            priority::admit(&cloned(self.priority_classes.all()), res, obj)?;
            default_tolerations::admit(obj);
            if let Some(ns) = ns {
                self.limit_ranges.wait_synced(SYNC_WAIT).await;
                limit_ranger::admit(res, obj, &cloned(self.limit_ranges.in_namespace(ns)))?;
            }
        }
        if let Some(ns) = ns {
            self.quotas.wait_synced(SYNC_WAIT).await;
            let mut quotas = cloned(self.quotas.in_namespace(ns));
            if quotas.is_empty() {
                quotas = self.live_quotas(store, ns).await?;
            }
            resource_quota::admit(store, res, ns, obj, &quotas, dry_run).await?;
        }
        Ok(())
    }
}

impl Admission {
    async fn live_quotas(&self, store: &Store, ns: &str) -> Result<Vec<Value>> {
        let now = std::time::Instant::now();
        if let Ok(g) = self.live_quotas.lock() {
            if let Some((at, v)) = g.get(ns) {
                if now.duration_since(*at) < LIVE_TTL {
                    return Ok(v.clone());
                }
            }
        }
        let Some(res) = find("", "v1", "resourcequotas") else {
            return Ok(Vec::new());
        };
        let items = store
            .list(res, Some(ns), &crate::registry::generic::ListOptions::default())
            .await?
            .items;
        if let Ok(mut g) = self.live_quotas.lock() {
            g.retain(|_, (at, _)| now.duration_since(*at) < LIVE_TTL);
            g.insert(ns.to_string(), (now, items.clone()));
        }
        Ok(items)
    }
}

/// admission.NewForbidden: `<resource> "<name>" is forbidden: <message>`, naming the object by
/// its name or, before one is generated, its generateName.
pub(crate) fn forbidden(res: &ResourceInfo, obj: &Value, message: String) -> ApiError {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| obj.pointer("/metadata/generateName").and_then(Value::as_str))
        .unwrap_or("");
    ApiError::Forbidden {
        resource: res.group_resource(),
        name: name.to_string(),
        message,
    }
}

/// utilerrors.NewAggregate's text: one error as is, several in brackets.
pub(crate) fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}
