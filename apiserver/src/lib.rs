//! apiserver: a Kubernetes API server that keeps objects under `/registry/...`
//! in any etcd-v3 store, laid out exactly as kube-apiserver 1.20 does, so
//! stock kubectl (and a stock kube-apiserver on the same etcd) work unchanged.
//!
//! # Layout
//! - `http/`: hyper server, routing, request parsing, handlers, watch
//!   streams, discovery, OpenAPI, tables, metrics and `status.rs` (the one
//!   error → `Status` mapping).
//! - `registry/`: the resource table (`resources.rs`), per-resource
//!   strategies (`strategy/`), the one generic `Store` (`generic/`), and
//!   pure helpers (metadata, selectors, validation, patch).
//! - `storage/`: etcd v3 client with fail-over and guarded txns, the value
//!   `Codec` (JSON or the `k8s\0` protobuf envelope, `protobuf/`),
//!   `/registry` keys, continue tokens, the etcd watch stream.
//! - `schema/`: the built-in types' fields (generated from Kubernetes'
//!   generated.proto), shared by the protobuf decoder, field validation and
//!   OpenAPI.
//! - `error.rs`: `ApiError`, what every layer returns.
//!
//! Arrows point one way: http → registry → storage → schema. Strategies
//! touch neither HTTP nor etcd. Only the etcd v3 wire API (crate `proto`)
//! is used. A TLS listener (secure port, token auth) will hand accepted
//! streams to `http::serve_connection` next to `http::serve_insecure`.

pub mod error;
pub mod http;
pub mod registry;
pub mod schema;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;

use registry::generic::Store;

/// Start-up settings (the binary's flags).
#[derive(Debug, Clone)]
pub struct Config {
    pub etcd_servers: String,
    pub insecure_bind_address: std::net::IpAddr,
    pub insecure_port: u16,
    pub event_ttl_seconds: i64,
    /// `application/json` or `application/vnd.kubernetes.protobuf`.
    pub storage_media_type: String,
    /// How often watches with allowWatchBookmarks get a BOOKMARK.
    pub bookmark_interval: std::time::Duration,
}

/// Bind, bootstrap the system namespaces and serve until the listener fails.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let etcd = storage::Etcd::new(&cfg.etcd_servers)?;
    let codec = storage::codec::for_media_type(&cfg.storage_media_type).map_err(anyhow::Error::msg)?;
    let store = Arc::new(Store::new(etcd, codec, cfg.event_ttl_seconds));
    let addr = SocketAddr::new(cfg.insecure_bind_address, cfg.insecure_port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, etcd = %cfg.etcd_servers, "serving insecurely");
    let bootstrap = store.clone();
    tokio::spawn(async move {
        // Retry until etcd answers; re-check every minute like kube-apiserver.
        loop {
            match registry::namespace_lifecycle::ensure_system_namespaces(&bootstrap).await {
                Ok(()) => tokio::time::sleep(std::time::Duration::from_secs(60)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create system namespaces yet");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
    let state = Arc::new(http::AppState {
        store,
        metrics: http::metrics::Metrics::default(),
        advertise: local.to_string(),
        bookmark_interval: cfg.bookmark_interval,
    });
    http::serve_insecure(listener, state).await?;
    Ok(())
}
