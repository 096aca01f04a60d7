//! The `apiserver` binary: flags, logging, then `apiserver::run`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "apiserver", about = "Kubernetes API server on any etcd-v3 store")]
struct Args {
    /// etcd v3 endpoints, comma separated (fail over in order).
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    etcd_servers: String,
    /// SSL Certificate Authority file used to secure etcd communication.
    #[arg(long)]
    etcd_cafile: Option<std::path::PathBuf>,
    /// SSL certification file used to secure etcd communication.
    #[arg(long)]
    etcd_certfile: Option<std::path::PathBuf>,
    /// SSL key file used to secure etcd communication.
    #[arg(long)]
    etcd_keyfile: Option<std::path::PathBuf>,
    /// Port for plain HTTP without authentication.
    #[arg(long, default_value_t = 8080)]
    insecure_port: u16,
    /// Address for the insecure port.
    #[arg(long, default_value = "127.0.0.1")]
    insecure_bind_address: std::net::IpAddr,
    /// Encoding of values in etcd: application/json or
    /// application/vnd.kubernetes.protobuf (kube-apiserver's default).
    #[arg(long, default_value = "application/json")]
    storage_media_type: String,
    /// TTL of stored events, seconds.
    #[arg(long, default_value_t = 3600)]
    event_ttl: i64,
    /// Seconds between watch BOOKMARK events (tests shorten it).
    #[arg(long, default_value_t = 60, hide = true)]
    watch_bookmark_interval_seconds: u64,
    /// TLS port (bearer-token authentication); 0 turns it off.
    #[arg(long, default_value_t = 0)]
    secure_port: u16,
    /// Address for the secure port.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: std::net::IpAddr,
    /// Serving certificate (PEM); without it a self-signed one is generated into --cert-dir.
    #[arg(long)]
    tls_cert_file: Option<std::path::PathBuf>,
    /// Serving key (PEM).
    #[arg(long)]
    tls_private_key_file: Option<std::path::PathBuf>,
    /// Where a generated certificate is kept.
    #[arg(long, default_value = "/var/run/kubernetes")]
    cert_dir: std::path::PathBuf,
    /// Static bearer tokens, kube-apiserver's CSV format: token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<std::path::PathBuf>,
    /// CA bundle that signs client certificates (user = CN, groups = O).
    #[arg(long)]
    client_ca_file: Option<std::path::PathBuf>,
    /// Accept bootstrap tokens (Secrets `kube-system/bootstrap-token-<id>`) as bearer tokens.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    enable_bootstrap_token_auth: bool,
    /// CA certificate the CSR signer issues certificates with (PEM).
    #[arg(long)]
    cluster_signing_cert_file: Option<std::path::PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    cluster_signing_key_file: Option<std::path::PathBuf>,
    /// Controllers to run in-process: `*` (all), names, `-name` to disable one; empty: none.
    #[arg(long, default_value = "*")]
    controllers: String,
    /// Run the in-process scheduler.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    scheduler: bool,
    /// PEM file(s) with keys that verify ServiceAccount tokens (repeatable; public or private
    /// RSA keys, or certificates).
    #[arg(long)]
    service_account_key_file: Vec<String>,
    /// RSA private key the in-process token controller signs ServiceAccount tokens with
    /// (default: a private key given to --service-account-key-file).
    #[arg(long)]
    service_account_private_key_file: Option<String>,
    /// CIDR Services' ClusterIPs come from (kubeadm's default; kube-apiserver's is 10.0.0.0/24).
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Port range NodePort Services get their ports from.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// Address of this server in the `kubernetes` Service's endpoints (default: --bind-address).
    #[arg(long)]
    advertise_address: Option<std::net::IpAddr>,
    /// Ordered authorizers on the secure port: AlwaysAllow, AlwaysDeny, RBAC, Node.
    #[arg(long, default_value = "AlwaysAllow")]
    authorization_mode: String,
    /// Admission plugins to turn on besides the built-in defaults (NodeRestriction).
    #[arg(long, default_value = "")]
    enable_admission_plugins: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let server = apiserver::run(apiserver::Config {
        etcd_servers: a.etcd_servers,
        etcd_tls: if a.etcd_cafile.is_some() || a.etcd_certfile.is_some() {
            Some(apiserver::storage::etcd3::EtcdTls {
                ca_file: a.etcd_cafile,
                cert_file: a.etcd_certfile,
                key_file: a.etcd_keyfile,
            })
        } else {
            None
        },
        insecure_bind_address: a.insecure_bind_address,
        insecure_port: a.insecure_port,
        event_ttl_seconds: a.event_ttl,
        storage_media_type: a.storage_media_type,
        bookmark_interval: std::time::Duration::from_secs(a.watch_bookmark_interval_seconds.max(1)),
        secure_port: a.secure_port,
        bind_address: a.bind_address,
        secure: apiserver::http::secure::SecureConfig {
            cert_file: a.tls_cert_file,
            key_file: a.tls_private_key_file,
            cert_dir: a.cert_dir,
            extra_sans: Vec::new(),
        },
        token_auth_file: a.token_auth_file,
        client_ca_file: a.client_ca_file,
        enable_bootstrap_token_auth: a.enable_bootstrap_token_auth,
        cluster_signing: match (a.cluster_signing_cert_file, a.cluster_signing_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("--cluster-signing-cert-file and --cluster-signing-key-file go together"),
        },
        service_account_key_files: a.service_account_key_file,
        service_account_private_key_file: a.service_account_private_key_file,
        service_cluster_ip_range: a.service_cluster_ip_range,
        service_node_port_range: a.service_node_port_range,
        controllers: a.controllers,
        scheduler: a.scheduler,
        advertise_address: a.advertise_address,
        authorization_modes: apiserver::authz::parse_modes(&a.authorization_mode).map_err(anyhow::Error::msg)?,
        node_restriction: apiserver::authz::node_restriction::parse_plugins(&a.enable_admission_plugins)
            .map_err(anyhow::Error::msg)?,
    });
    // SIGTERM/SIGINT end the process cleanly (exit 0), as kube-apiserver does; writes are
    // single etcd transactions, so nothing is left half done.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = server => r,
        _ = term.recv() => {
            tracing::info!("received SIGTERM; shutting down");
            Ok(())
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("received SIGINT; shutting down");
            Ok(())
        }
    }
}
