//! TLS for the client and peer ports, as etcd configures it: certificate and key files (RSA,
//! EC or PKCS#8 PEM, as cfssl and openssl write them), an optional trusted CA with
//! client-certificate checks, `--auto-tls` self-signed certificates, `--cipher-suites` and
//! TLS version bounds. rustls with the ring provider.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// One side's (client port or peer port) TLS settings, as flags give them.
#[derive(Debug, Clone, Default)]
pub struct TlsSide {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    pub auto_tls: bool,
}

/// Settings both sides share.
#[derive(Debug, Clone, Default)]
pub struct TlsCommon {
    pub cipher_suites: Vec<String>,
    pub min_version: String,
    pub max_version: String,
    pub self_signed_validity_years: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

fn err(what: impl std::fmt::Display) -> TlsError {
    TlsError(what.to_string())
}

impl TlsSide {
    pub fn configured(&self) -> bool {
        self.auto_tls || (self.cert_file.is_some() && self.key_file.is_some())
    }
}

fn provider(common: &TlsCommon) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut p = rustls::crypto::ring::default_provider();
    if !common.cipher_suites.is_empty() {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in &common.cipher_suites {
            let want = name.trim().to_ascii_uppercase();
            let found = p.cipher_suites.iter().find(|s| {
                let have = format!("{:?}", s.suite());
                have == want || have.strip_suffix("_SHA256") == Some(want.as_str())
            });
            match found {
                Some(s) => chosen.push(*s),
                None => {
                    let known: Vec<String> = p.cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect();
                    return Err(err(format!(
                        "unexpected TLS cipher suite {name:?} (supported: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        // As in Go, the TLS 1.3 suites are not configurable and stay on.
        for s in p.cipher_suites.iter() {
            if s.version() == &rustls::version::TLS13 && !chosen.contains(s) {
                chosen.push(*s);
            }
        }
        p.cipher_suites = chosen;
    }
    Ok(Arc::new(p))
}

fn versions(common: &TlsCommon) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let parse = |v: &str, default: u8| -> Result<u8, TlsError> {
        match v {
            "" => Ok(default),
            "TLS1.2" => Ok(2),
            "TLS1.3" => Ok(3),
            "TLS1.0" | "TLS1.1" => Err(err(format!("TLS version {v} is not supported (TLS1.2 and TLS1.3 are)"))),
            other => Err(err(format!("unexpected TLS version {other:?}"))),
        }
    };
    let min = parse(&common.min_version, 2)?;
    let max = parse(&common.max_version, 3)?;
    if min > max {
        return Err(err("--tls-min-version must not be above --tls-max-version"));
    }
    let mut out = Vec::new();
    if min <= 3 && max >= 3 {
        out.push(&rustls::version::TLS13);
    }
    if min <= 2 && max >= 2 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(format!("cannot read certificates from {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("bad certificate PEM in {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| err(format!("cannot read private key from {}: {e}", path.display())))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in load_certs(path)? {
        store
            .add(c)
            .map_err(|e| err(format!("bad CA certificate in {}: {e}", path.display())))?;
    }
    Ok(store)
}

/// The certificate and key a side serves: the given files, or (with auto TLS) a
/// self-signed pair generated once under `auto_dir`, as etcd's `fixtures/{client,peer}`.
fn identity(
    side: &TlsSide,
    common: &TlsCommon,
    auto_dir: &Path,
    hosts: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    if let (Some(c), Some(k)) = (&side.cert_file, &side.key_file) {
        return Ok((load_certs(c)?, load_key(k)?));
    }
    if !side.auto_tls {
        return Err(err("TLS needs --cert-file and --key-file (or --auto-tls)"));
    }
    let cert_path = auto_dir.join("cert.pem");
    let key_path = auto_dir.join("key.pem");
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(auto_dir).map_err(|e| err(format!("{}: {e}", auto_dir.display())))?;
        let mut names: Vec<String> = hosts.to_vec();
        names.push("localhost".into());
        names.sort();
        names.dedup();
        let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "kv");
        let now = time_now();
        params.not_before = now;
        params.not_after = now + time::Duration::days(365 * i64::from(common.self_signed_validity_years.max(1)));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        std::fs::write(&cert_path, cert.pem()).map_err(|e| err(format!("{}: {e}", cert_path.display())))?;
        std::fs::write(&key_path, key.serialize_pem()).map_err(|e| err(format!("{}: {e}", key_path.display())))?;
        tracing::info!(dir = %auto_dir.display(), "generated a self-signed certificate (auto TLS)");
    }
    Ok((load_certs(&cert_path)?, load_key(&key_path)?))
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The server side of a port.
pub fn server_config(
    side: &TlsSide,
    common: &TlsCommon,
    auto_dir: &Path,
    hosts: &[String],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider(common)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(common)?)
        .map_err(err)?;
    let (certs, key) = identity(side, common, auto_dir, hosts)?;
    let builder = match (&side.trusted_ca_file, side.client_cert_auth) {
        (Some(ca), true) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
                .build()
                .map_err(err)?;
            builder.with_client_cert_verifier(verifier)
        }
        (Some(ca), false) => {
            // A CA without --client-cert-auth: certificates are checked when offered.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
                .allow_unauthenticated()
                .build()
                .map_err(err)?;
            builder.with_client_cert_verifier(verifier)
        }
        (None, true) if side.auto_tls => {
            return Err(err("client certificate auth with auto TLS needs a trusted CA file"));
        }
        (None, true) => return Err(err("--client-cert-auth needs --trusted-ca-file")),
        (None, false) => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The client side of peer connections: our peer certificate as identity, the peer CA as
/// roots (auto TLS peers skip verification, as etcd's do).
pub fn peer_client_config(side: &TlsSide, common: &TlsCommon, auto_dir: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider(common)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(common)?)
        .map_err(err)?;
    let builder = match &side.trusted_ca_file {
        Some(ca) => builder.with_root_certificates(roots(ca)?),
        None if side.auto_tls => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(raft_node::tls::AcceptAnyServer(provider))),
        None => return Err(err("peer TLS needs --peer-trusted-ca-file (or --peer-auto-tls)")),
    };
    let (certs, key) = identity(side, common, auto_dir, &[])?;
    let mut cfg = builder.with_client_auth_cert(certs, key).map_err(err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// The common name of a verified client certificate (etcd's user for client-cert auth).
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn)
}

/// Accepts TLS connections on `listener`; failed handshakes are logged once per remote
/// address and reason (a peer retrying with a bad certificate does not flood the log).
pub fn accept_tls(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    what: &'static str,
) -> mpsc::Receiver<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    let logged: Arc<Mutex<HashSet<(std::net::IpAddr, String)>>> = Default::default();
    tokio::spawn(async move {
        loop {
            let (tcp, remote): (TcpStream, SocketAddr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if tx.is_closed() {
                return;
            }
            let acceptor = acceptor.clone();
            let conn_tx = tx.clone();
            let logged = logged.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => {
                        let _ = conn_tx.send(Ok(s)).await;
                    }
                    Ok(Err(e)) => {
                        let reason = e.to_string();
                        if logged.lock().insert((remote.ip(), reason.clone())) {
                            tracing::warn!(%remote, port = what, error = %reason, "rejected TLS connection");
                        }
                    }
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}
