//! Namespace lifecycle: the system namespaces created at start-up, the
//! `default` ServiceAccount of each namespace (the serviceaccount
//! controller's job, done inline), and a minimal namespace finalizer
//! (delete contents, drop `kubernetes` from spec.finalizers) so
//! `kubectl delete ns` completes without a controller.

use std::sync::Arc;

use serde_json::{json, Value};

use super::generic::{DeleteOptions, ListOptions, Store};
use super::resources::{all, Subresource};
use crate::error::{ApiError, Result};

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Create the system namespaces if missing (idempotent; safe with several apiservers).
pub async fn ensure_system_namespaces(store: &Store) -> Result<()> {
    crate::admission::priority::ensure_system_classes(store).await?;
    let ns = super::generic::store::namespaces();
    for name in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":name}});
        match store.create(ns, None, obj, false).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        ensure_default_service_account(store, name).await?;
    }
    Ok(())
}

/// Create ServiceAccount `default` in `namespace` if missing.
pub async fn ensure_default_service_account(store: &Store, namespace: &str) -> Result<()> {
    let Some(sa) = super::resources::find("", "v1", "serviceaccounts") else {
        return Ok(());
    };
    let obj = json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}});
    match store.create(sa, Some(namespace), obj, false).await {
        // Forbidden/NotFound: the namespace is going away; nothing to do.
        Ok(_)
        | Err(ApiError::AlreadyExists { .. })
        | Err(ApiError::Forbidden { .. })
        | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Finish deleting namespace `name` in the background.
pub fn spawn_finalize(store: Arc<Store>, name: String, ranges: Arc<super::service_ranges::ServiceRanges>) {
    tokio::spawn(async move {
        if let Err(e) = finalize(&store, &name, &ranges).await {
            tracing::warn!(namespace = %name, error = %e, "namespace finalization failed");
        }
    });
}

async fn finalize(store: &Store, name: &str, ranges: &super::service_ranges::ServiceRanges) -> Result<()> {
    for res in all().into_iter().filter(|r| r.namespaced && r.stored()) {
        let list = store.list(res, Some(name), &ListOptions::default()).await?;
        for item in list.items {
            let item_name = super::meta::name(&item).to_string();
            // As kube's namespace controller: background propagation.
            let opts = DeleteOptions {
                grace_period: Some(0),
                propagation: Some(super::generic::Propagation::Background),
                ..Default::default()
            };
            match store.delete(res, Some(name), &item_name, &opts).await {
                Ok(gone) if res.group.is_empty() && res.plural == "services" && !super::meta::is_deleting(&gone) => {
                    ranges.release(store, &ranges.held(&gone)).await;
                }
                Ok(_) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let ns = super::generic::store::namespaces();
    let r = store
        .update(ns, None, name, Some(Subresource::Finalize), false, |cur| {
            let mut n = cur.clone();
            let fins: Vec<Value> = cur
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(|f| f.as_str() != Some("kubernetes")).cloned().collect())
                .unwrap_or_default();
            super::strategy::set_at(&mut n, "/spec/finalizers", json!(fins));
            Ok(n)
        })
        .await;
    match r {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
