//! The client port: etcd's gRPC services and the HTTP endpoints on one listener (HTTP/2
//! for gRPC, HTTP/1.1 for curl), as etcd serves them.
//!
//! One file per gRPC service; `errors` is the only place store errors become statuses.

mod auth;
pub mod authz;
mod cluster;
pub mod errors;
mod http;
mod kv;
mod lease;
pub mod listen;
mod maintenance;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use proto::etcdserverpb::{
    auth_server::AuthServer, cluster_server::ClusterServer, kv_server::KvServer, lease_server::LeaseServer,
    maintenance_server::MaintenanceServer, watch_server::WatchServer,
};
use tonic::service::Routes;

use crate::member::Member;

/// gRPC receive limit: `--max-request-bytes` plus etcd's 512 KiB of slack.
const GRPC_OVERHEAD: usize = 512 * 1024;

/// Binds every client URL; returns the bound addresses (port 0 resolved) and a future that
/// serves them until `shutdown` resolves.
pub async fn serve_clients(
    member: Arc<Member>,
    addrs: &[crate::config::Listen],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Vec<SocketAddr>, tokio::task::JoinHandle<()>)> {
    let max_recv = member.cfg.max_request_bytes + GRPC_OVERHEAD;
    let routes = Routes::new(
        KvServer::new(kv::KvService { member: member.clone() })
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        WatchServer::new(watch::WatchService { member: member.clone() })
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(LeaseServer::new(lease::LeaseService { member: member.clone() }).max_decoding_message_size(max_recv))
    .add_service(
        MaintenanceServer::new(maintenance::MaintenanceService { member: member.clone() })
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(ClusterServer::new(cluster::ClusterService { member: member.clone() }))
    .add_service(AuthServer::new(auth::AuthService { member: member.clone() }));
    let router = routes
        .into_axum_router()
        .merge(http::routes(member.clone()))
        .layer(axum::middleware::from_fn_with_state(member.clone(), require_leader));
    let tls = member.client_tls.clone();
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let (bound, served) = listen::serve(Routes::from(router), addrs, tls, "client", stop_tx.clone()).await?;
    let handle = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
        let _ = served.await;
    });
    Ok((bound, handle))
}

/// etcd's interceptor: a request carrying `hasleader: true` fails fast when there is no
/// leader (unary calls and stream starts alike).
async fn require_leader(
    axum::extract::State(member): axum::extract::State<Arc<Member>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let wants = req
        .headers()
        .get("hasleader")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "true")
        .unwrap_or(false);
    if wants && !member.has_leader() {
        let (parts, body) = errors::status(crate::error::Error::NoLeader)
            .into_http::<axum::body::Body>()
            .into_parts();
        return axum::response::Response::from_parts(parts, body);
    }
    next.run(req).await
}
