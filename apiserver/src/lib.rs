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
//! - `authz/`: authorization on the secure port (`--authorization-mode`: RBAC, Node,
//!   AlwaysAllow, AlwaysDeny), the bootstrap RBAC policy, NodeRestriction admission.
//!
//! - `scheduler/`, `controllers/`: kube-scheduler and the core controllers,
//!   run in-process by default but talking to the API only over HTTP
//!   (`client.rs`), never to the store.
//!
//! Arrows point one way: http → authz → registry → storage → schema. Strategies
//! touch neither HTTP nor etcd. Only the etcd v3 wire API (crate `proto`)
//! is used. The secure port (`http::secure`: rustls, bearer tokens) hands
//! requests to the same router as the insecure port.

pub mod admission;
pub mod authz;
pub mod client;
pub mod component;
pub mod controllers;
pub mod error;
pub mod http;
pub mod kubeconfig;
pub mod kubernetes_service;
pub mod leader_election;
pub mod quantity;
pub mod quota;
pub mod registry;
pub mod scheduler;
pub mod schema;
pub mod serviceaccount_token;
pub mod storage;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use registry::generic::Store;

/// Start-up settings (the binary's flags).
#[derive(Debug, Clone)]
pub struct Config {
    pub etcd_servers: String,
    /// TLS towards `https://` etcd servers.
    pub etcd_tls: Option<storage::etcd3::EtcdTls>,
    pub insecure_bind_address: std::net::IpAddr,
    pub insecure_port: u16,
    pub event_ttl_seconds: i64,
    /// `application/json` or `application/vnd.kubernetes.protobuf`.
    pub storage_media_type: String,
    /// How often watches with allowWatchBookmarks get a BOOKMARK.
    pub bookmark_interval: std::time::Duration,
    /// TLS port with bearer-token authentication (0: off).
    pub secure_port: u16,
    pub bind_address: std::net::IpAddr,
    pub secure: http::secure::SecureConfig,
    /// kube-apiserver's `--token-auth-file` (CSV).
    pub token_auth_file: Option<std::path::PathBuf>,
    /// `--client-ca-file`: client certificates signed by it authenticate (CN, O).
    pub client_ca_file: Option<std::path::PathBuf>,
    /// `--enable-bootstrap-token-auth`.
    pub enable_bootstrap_token_auth: bool,
    /// `--cluster-signing-cert-file` / `--cluster-signing-key-file` for the CSR signer.
    pub cluster_signing: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `--service-account-key-file` (verification keys for ServiceAccount tokens).
    pub service_account_key_files: Vec<String>,
    /// `--service-account-private-key-file` (the in-process token controller signs with it).
    pub service_account_private_key_file: Option<String>,
    /// `--service-cluster-ip-range` (kubeadm's default 10.96.0.0/12).
    pub service_cluster_ip_range: String,
    /// `--service-node-port-range`.
    pub service_node_port_range: String,
    /// `--controllers` (kube syntax: `*`, `name`, `-name`; empty: none).
    pub controllers: String,
    /// Run the in-process scheduler.
    pub scheduler: bool,
    /// Address published in the `kubernetes` Service's endpoints (default: the bind address).
    pub advertise_address: Option<std::net::IpAddr>,
    /// `--authorization-mode` (the secure port).
    pub authorization_modes: Vec<authz::Mode>,
    /// `--enable-admission-plugins` names NodeRestriction.
    pub node_restriction: bool,
}

/// Bind, bootstrap the system namespaces and serve until the listener fails.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let etcd = storage::Etcd::new(&cfg.etcd_servers, cfg.etcd_tls.as_ref())?;
    let codec = storage::codec::for_media_type(&cfg.storage_media_type).map_err(anyhow::Error::msg)?;
    let store = Arc::new(Store::new(etcd, codec, cfg.event_ttl_seconds));
    let addr = SocketAddr::new(cfg.insecure_bind_address, cfg.insecure_port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, etcd = %cfg.etcd_servers, "serving insecurely");
    let bootstrap = store.clone();
    let system_namespaces = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bootstrap_roles = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = system_namespaces.clone();
    let roles_done = bootstrap_roles.clone();
    tokio::spawn(async move {
        // Retry until etcd answers; re-check every minute like kube-apiserver.
        loop {
            match registry::namespace_lifecycle::ensure_system_namespaces(&bootstrap).await {
                Ok(()) => {
                    done.store(true, std::sync::atomic::Ordering::Release);
                    // The rbac/bootstrap-roles post-start hook: once, after the namespaces.
                    while !roles_done.load(std::sync::atomic::Ordering::Acquire) {
                        match authz::bootstrap::ensure_policy(&bootstrap).await {
                            Ok(()) => roles_done.store(true, std::sync::atomic::Ordering::Release),
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot reconcile the bootstrap RBAC policy yet");
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create system namespaces yet");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
    // CRDs: names/Established status, serving their resources, cleanup (every apiserver).
    registry::crd::controller::spawn(store.clone());
    let names = controllers::enabled(&cfg.controllers);
    let mut authenticator = match &cfg.token_auth_file {
        Some(f) => http::secure::Authenticator::from_csv(&std::fs::read_to_string(f)?).map_err(anyhow::Error::msg)?,
        None => http::secure::Authenticator::default(),
    };
    authenticator.bootstrap_tokens = cfg.enable_bootstrap_token_auth;
    if !cfg.service_account_key_files.is_empty() {
        authenticator.service_account_keys = Some(Arc::new(serviceaccount_token::TokenVerifier::from_files(
            &cfg.service_account_key_files,
        )?));
    }
    // In-process token controller: --service-account-private-key-file, else a private key among
    // --service-account-key-file (kubeadm's sa.key).
    let sa_signer = match &cfg.service_account_private_key_file {
        Some(f) => Some(serviceaccount_token::TokenSigner::from_file(f)?),
        None => cfg
            .service_account_key_files
            .iter()
            .find_map(|f| serviceaccount_token::TokenSigner::from_file(f).ok()),
    };
    let admission = admission::Admission::spawn(&store);
    let service_ranges = Arc::new(
        registry::service_ranges::ServiceRanges::new(&cfg.service_cluster_ip_range, &cfg.service_node_port_range)
            .map_err(|e| anyhow::anyhow!("--service-cluster-ip-range/--service-node-port-range: {e}"))?,
    );
    {
        // kube's repair controllers: mark what existing Services hold (retried until etcd answers).
        let (store, ranges) = (store.clone(), service_ranges.clone());
        tokio::spawn(async move {
            loop {
                let r = match registry::resources::find("", "v1", "services") {
                    Some(res) => match store.list(res, None, &registry::generic::ListOptions::default()).await {
                        Ok(l) => ranges.repair(&store, &l.items).await,
                        Err(e) => Err(e),
                    },
                    None => Ok(()),
                };
                match r {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "service range repair failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
    let state = Arc::new(http::AppState {
        admission,
        authorizer: Arc::new(authz::Authorizer::new(cfg.authorization_modes.clone(), &store)),
        store,
        metrics: http::metrics::Metrics::default(),
        advertise: local.to_string(),
        bookmark_interval: cfg.bookmark_interval,
        require_sa_token: names.contains(&"serviceaccount-token"),
        system_namespaces,
        bootstrap_roles,
        authenticator: Arc::new(authenticator),
        node_restriction: cfg.node_restriction,
        service_ranges,
        components: http::componentstatus::Components {
            scheduler_in_process: cfg.scheduler,
            controllers_in_process: !names.is_empty(),
            etcd_servers: cfg
                .etcd_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        },
    });
    let loopback = format!("http://{}", loopback_of(local));
    let cert = if cfg.secure_port != 0 {
        Some(http::secure::ensure_cert(&cfg.secure)?)
    } else {
        None
    };
    // One watch per list, shared by the controllers and the scheduler.
    let triggers = controllers::trigger::Triggers::new(client::Client::new(&loopback, "apiserver/informers"));
    if !names.is_empty() {
        tracing::info!(controllers = ?names, "starting controllers");
        let ca_pem = match &cert {
            Some((crt, _)) => std::fs::read(crt)?,
            None => Vec::new(),
        };
        controllers::spawn(
            client::Client::new(&loopback, "apiserver/controller-manager"),
            &triggers,
            &names,
            std::time::Duration::from_millis(500),
            ca_pem,
            match &cfg.cluster_signing {
                Some((c, k)) => Some(controllers::certificates::Signer::load(c, k)?),
                None => None,
            },
            sa_signer,
        );
    }
    if cfg.scheduler {
        tokio::spawn(scheduler::run(
            client::Client::new(&loopback, "apiserver/scheduler"),
            triggers.clone(),
        ));
    }
    if let Some((crt, key)) = cert {
        let advertise = cfg
            .advertise_address
            .or_else(|| (!cfg.bind_address.is_unspecified()).then_some(cfg.bind_address));
        if let Some(ip) = advertise {
            let c = client::Client::new(&loopback, "apiserver/endpoint-reconciler");
            tokio::spawn(kubernetes_service::run(c, ip, cfg.secure_port));
        }
        let tls = http::secure::server_config(&crt, &key, cfg.client_ca_file.as_deref())?;
        let legacy = http::legacy_tls::LegacyAcceptor::new(&crt, &key, cfg.client_ca_file.as_deref())?;
        let sl = tokio::net::TcpListener::bind(SocketAddr::new(cfg.bind_address, cfg.secure_port)).await?;
        tracing::info!(local = %sl.local_addr()?, "serving securely");
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = http::secure::serve_secure(sl, tls, legacy, st).await {
                tracing::error!(error = %e, "secure listener failed");
            }
        });
    }
    http::serve_insecure(listener, state).await?;
    Ok(())
}

/// Where in-process clients reach the insecure port (0.0.0.0 → 127.0.0.1).
fn loopback_of(local: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    }
}
