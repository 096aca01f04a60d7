//! Binding and serving one port (client or peer): plain TCP or TLS, HTTP/2 for gRPC and
//! HTTP/1.1 for curl, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;

use crate::config::Listen;

/// Binds every address; returns the bound addresses (port 0 resolved) and a task that serves
/// them until `stop` fires.
pub async fn serve(
    routes: Routes,
    listens: &[Listen],
    tls: Option<Arc<rustls::ServerConfig>>,
    what: &'static str,
    stop: broadcast::Sender<()>,
) -> anyhow::Result<(Vec<SocketAddr>, tokio::task::JoinHandle<()>)> {
    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    for l in listens {
        let listener = TcpListener::bind(l.addr)
            .await
            .map_err(|e| anyhow::anyhow!("listen tcp {} ({what}): {e}", l.addr))?;
        bound.push(listener.local_addr()?);
        let r = routes.clone();
        let mut stopped = stop.subscribe();
        let shutdown = async move {
            let _ = stopped.recv().await;
        };
        let builder = tonic::transport::Server::builder()
            .accept_http1(true)
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(7200)));
        let task = match (&tls, l.tls) {
            (Some(cfg), true) => {
                let rx = crate::tls::accept_tls(listener, cfg.clone(), what);
                tokio::spawn(async move {
                    let mut b = builder;
                    if let Err(e) = b
                        .add_routes(r)
                        .serve_with_incoming_shutdown(ReceiverStream::new(rx), shutdown)
                        .await
                    {
                        tracing::error!(error = %e, port = what, "server stopped");
                    }
                })
            }
            (None, true) => anyhow::bail!("{} is https but no TLS is configured for the {what} port", l.addr),
            (_, false) => tokio::spawn(async move {
                let mut b = builder;
                if let Err(e) = b
                    .add_routes(r)
                    .serve_with_incoming_shutdown(
                        // Nagle off: a response written in two segments must not wait for
                        // the client's delayed ACK (tonic ignores `tcp_nodelay` here).
                        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                        shutdown,
                    )
                    .await
                {
                    tracing::error!(error = %e, port = what, "server stopped");
                }
            }),
        };
        tasks.push(task);
    }
    let handle = tokio::spawn(async move {
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok((bound, handle))
}
