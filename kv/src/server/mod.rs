//! The client port: etcd's gRPC services and the HTTP endpoints on one listener (HTTP/2
//! for gRPC, HTTP/1.1 for curl), as etcd serves them.
//!
//! One file per gRPC service; `errors` is the only place store errors become statuses.

mod auth;
mod cluster;
pub mod errors;
mod http;
mod kv;
mod lease;
mod maintenance;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use proto::etcdserverpb::{
    auth_server::AuthServer, cluster_server::ClusterServer, kv_server::KvServer, lease_server::LeaseServer,
    maintenance_server::MaintenanceServer, watch_server::WatchServer,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::member::Member;

/// gRPC receive limit: `--max-request-bytes` plus etcd's 512 KiB of slack.
const GRPC_OVERHEAD: usize = 512 * 1024;

/// Binds every client URL; returns the bound addresses (port 0 resolved) and a future that
/// serves them until `shutdown` resolves.
pub async fn serve_clients(
    member: Arc<Member>,
    addrs: &[SocketAddr],
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
    let router = routes.into_axum_router().merge(http::routes(member.clone()));
    let routes = Routes::from(router);

    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for a in addrs {
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| anyhow::anyhow!("listen tcp {a}: {e}"))?;
        bound.push(l.local_addr()?);
        listeners.push(l);
    }
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for l in listeners {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
        let r = routes.clone();
        let mut stop = stop_tx.subscribe();
        let lm = member.clone();
        // etcd's interceptor: a request that requires a leader fails fast without one.
        let require_leader = tonic::service::InterceptorLayer::new(move |req: tonic::Request<()>| {
            if watch::requires_leader(&req) && !lm.has_leader() {
                return Err(errors::status(crate::error::Error::NoLeader));
            }
            Ok(req)
        });
        tasks.push(tokio::spawn(async move {
            let res = tonic::transport::Server::builder()
                .accept_http1(true)
                .tcp_nodelay(true)
                .http2_keepalive_interval(Some(std::time::Duration::from_secs(7200)))
                .layer(require_leader)
                .add_routes(r)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.recv().await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "client server stopped");
            }
        }));
    }
    let handle = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok((bound, handle))
}
