//! What the standalone `controller-manager` and `scheduler` binaries share: kube's flags for
//! reaching the API server (`--kubeconfig`, `--master`) and for leader election
//! (`--leader-elect*`), the insecure `/healthz` port, and running under an elected lease.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::client::Client;
use crate::kubeconfig::Connection;
use crate::leader_election::{parse_flag_duration, Config as ElectionConfig, Elector};

/// Connection and leader-election flags, with kube-controller-manager's names.
#[derive(Debug, clap::Args)]
pub struct ComponentArgs {
    /// Path to a kubeconfig file with authorization and master location information.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The address of the Kubernetes API server (overrides any value in kubeconfig).
    #[arg(long)]
    pub master: Option<String>,
    /// Start a leader election client and gain leadership before executing the main loop.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// How long non-leader candidates wait after observing a leadership renewal before
    /// trying to acquire the lease.
    #[arg(long, default_value = "15s", value_parser = parse_flag_duration)]
    pub leader_elect_lease_duration: std::time::Duration,
    /// How long the acting leader retries refreshing leadership before giving it up.
    #[arg(long, default_value = "10s", value_parser = parse_flag_duration)]
    pub leader_elect_renew_deadline: std::time::Duration,
    /// How long candidates wait between attempts to acquire and renew leadership.
    #[arg(long, default_value = "2s", value_parser = parse_flag_duration)]
    pub leader_elect_retry_period: std::time::Duration,
    /// The type of resource object used for locking; only `leases` is supported.
    #[arg(long, default_value = "leases")]
    pub leader_elect_resource_lock: String,
    /// The name of the lease object (default: the component's name).
    #[arg(long)]
    pub leader_elect_resource_name: Option<String>,
    /// The namespace of the lease object.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// Port serving `/healthz` without authentication (kube 1.20's insecure port); 0 turns it off.
    #[arg(long)]
    pub port: Option<u16>,
    /// Address for `--port`.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
}

impl ComponentArgs {
    /// Where the API server is: the kubeconfig (with `--master` overriding its server) or
    /// `--master` alone (plain http, as kube allows for the insecure port).
    pub fn connection(&self) -> anyhow::Result<Connection> {
        match (&self.kubeconfig, &self.master) {
            (Some(k), m) => Ok(Connection::from_kubeconfig(k, m.as_deref())?),
            (None, Some(m)) => {
                if m.starts_with("https://") {
                    anyhow::bail!("--master {m} needs --kubeconfig for its credentials and CA");
                }
                let m = if m.contains("://") {
                    m.clone()
                } else {
                    format!("http://{m}")
                };
                Ok(Connection::plain(&m))
            }
            (None, None) => anyhow::bail!("neither --kubeconfig nor --master was specified"),
        }
    }

    fn election(&self, default_name: &str, component: &str) -> anyhow::Result<ElectionConfig> {
        if self.leader_elect_resource_lock != "leases" {
            anyhow::bail!(
                "--leader-elect-resource-lock {:?} is not supported (only \"leases\")",
                self.leader_elect_resource_lock
            );
        }
        let name = self.leader_elect_resource_name.as_deref().unwrap_or(default_name);
        let mut cfg = ElectionConfig::new(&self.leader_elect_resource_namespace, name, component);
        cfg.lease_duration = self.leader_elect_lease_duration;
        cfg.renew_deadline = self.leader_elect_renew_deadline;
        cfg.retry_period = self.leader_elect_retry_period;
        cfg.validate().map_err(anyhow::Error::msg)?;
        Ok(cfg)
    }
}

/// Serve `/healthz` (and `/livez`) with "ok" on `addr`, as kube's insecure component ports do
/// (the API server's componentstatuses probe them).
pub async fn serve_healthz(addr: SocketAddr) -> anyhow::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz insecurely");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let (code, body) = match req.uri().path() {
                    "/healthz" | "/livez" | "/readyz" => (200, "ok"),
                    _ => (404, "404 page not found\n"),
                };
                hyper::Response::builder()
                    .status(code)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// Run `start` (which spawns the component's loops) now, or once this process holds the lease
/// when `--leader-elect`; returns only when leadership is lost (an error: the process should
/// exit, as kube's components do) or never.
pub async fn run(
    args: &ComponentArgs,
    default_port: u16,
    lease_name: &str,
    component: &str,
    start: impl FnOnce(Client),
) -> anyhow::Result<()> {
    let conn = args.connection()?;
    let election = if args.leader_elect {
        Some(args.election(lease_name, component)?)
    } else {
        None
    };
    let port = args.port.unwrap_or(default_port);
    if port != 0 {
        let addr = SocketAddr::new(args.address, port);
        tokio::spawn(async move {
            if let Err(e) = serve_healthz(addr).await {
                tracing::error!(error = %e, "healthz listener failed");
            }
        });
    }
    let client = Client::connect(&conn, component);
    tracing::info!(server = %conn.server, "component starting");
    match election {
        None => {
            start(client);
            std::future::pending::<()>().await;
            Ok(())
        }
        Some(cfg) => {
            let elector = Elector::new(client.clone(), cfg);
            let lost = elector.run(move || start(client)).await;
            Err(lost.into())
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs `work` until it ends or SIGTERM/SIGINT (a clean exit, status 0).
pub async fn until_signal(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = work => r,
        _ = term.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
