//! HTTP front end (hyper 1): the insecure listener, routing, handlers.
//!
//! `router` dispatches by path; `handlers` runs CRUD verbs on the generic
//! store; `watch` streams events; `discovery`/`openapi` describe the API;
//! `table` renders `as=Table`; `encoding` parses queries and bodies and
//! encodes JSON/YAML/protobuf, `negotiate` picks one from Accept; `status` maps errors to `Status`; `metrics` counts.
//! A secure (rustls) listener plugs in next to `serve_insecure` later: it
//! only needs to hand accepted streams to `serve_connection`.

pub mod client_auth;
pub mod componentstatus;
pub mod discovery;
pub mod encoding;
pub mod handlers;
pub mod kubelet_proxy;
pub mod legacy_tls;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod request_info;
pub mod reviews;
pub mod router;
pub mod secure;
pub mod status;
pub mod table;
pub mod watch;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::registry::generic::Store;

pub type Body = BoxBody<Bytes, Infallible>;
pub type Response = http::Response<Body>;

/// Shared by every request.
pub struct AppState {
    pub store: Arc<Store>,
    pub metrics: metrics::Metrics,
    /// Host:port clients reach us on (for discovery's serverAddress).
    pub advertise: String,
    /// How often watches with allowWatchBookmarks get a BOOKMARK.
    pub bookmark_interval: std::time::Duration,
    /// ServiceAccount admission refuses pods until their SA has a token (the token
    /// controller runs).
    pub require_sa_token: bool,
    /// Set once the system namespaces exist (readyz's post-start hook check).
    pub system_namespaces: Arc<std::sync::atomic::AtomicBool>,
    /// Set once the default RBAC policy is in place (readyz: rbac/bootstrap-roles).
    pub bootstrap_roles: Arc<std::sync::atomic::AtomicBool>,
    /// `--authorization-mode` (the secure port; reviews).
    pub authorizer: Arc<crate::authz::Authorizer>,
    /// Bearer-token authentication (the secure port; TokenReview).
    pub authenticator: Arc<secure::Authenticator>,
    /// `--enable-admission-plugins` includes NodeRestriction.
    pub node_restriction: bool,
    /// Admission plugins' caches (`crate::admission`).
    pub admission: crate::admission::Admission,
    /// ClusterIP and NodePort ranges (shared bitmaps in the store).
    pub service_ranges: Arc<crate::registry::service_ranges::ServiceRanges>,
    /// What componentstatuses checks.
    pub components: componentstatus::Components,
}

/// Accept plain-HTTP connections forever.
pub async fn serve_insecure(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            serve_connection(TokioIo::new(stream), state).await;
            tracing::trace!(%peer, "connection closed");
        });
    }
}

/// Serve HTTP/1.1 or h2 on one accepted (plain or TLS) stream.
pub async fn serve_connection<I>(io: I, state: Arc<AppState>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(router::route(state, req).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(io, svc).await {
        tracing::debug!(error = %e, "connection error");
    }
}
