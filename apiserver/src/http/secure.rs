//! The secure port: rustls (ring) serving certificate (given, or self-signed and kept in
//! `--cert-dir` on first start), authentication (client certificates, bearer tokens from a
//! kube-apiserver `--token-auth-file` (CSV: token,user,uid,"group1,group2"), ServiceAccount
//! and bootstrap tokens; without credentials `system:anonymous` unless the AlwaysAllow
//! authorizer is on), authorization (`AppState::authorizer`), then the normal router.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::encoding::{error_response, output};
use super::{router, AppState};
use crate::error::ApiError;
use crate::registry::generic::Store;

pub use crate::authz::UserInfo;

/// Static bearer tokens (`--token-auth-file`).
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
    /// `--service-account-key-file`: ServiceAccount JWTs are verified with these keys.
    pub service_account_keys: Option<Arc<crate::serviceaccount_token::TokenVerifier>>,
}

impl Authenticator {
    /// Parse kube-apiserver's token file format; comment and blank lines are skipped.
    pub fn from_csv(text: &str) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line);
            if fields.len() < 3 {
                return Err(format!("token file line {}: want token,user,uid[,groups]", i + 1));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                fields[0].clone(),
                UserInfo {
                    name: fields[1].clone(),
                    uid: fields[2].clone(),
                    groups,
                },
            );
        }
        Ok(Self {
            tokens,
            bootstrap_tokens: false,
            service_account_keys: None,
        })
    }

    /// The user of an `Authorization: Bearer` header, if the token is known.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Option<UserInfo> {
        self.authenticate_token(&bearer(headers)?)
    }

    /// The user of a token in the file.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        let mut u = self.tokens.get(token)?.clone();
        if !u.groups.iter().any(|g| g == "system:authenticated") {
            u.groups.push("system:authenticated".into());
        }
        Some(u)
    }
}

/// The bearer token of a request.
fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let t = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// One CSV line with double-quoted fields.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Settings of the secure listener.
#[derive(Debug, Clone)]
pub struct SecureConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Where a self-signed pair is kept (apiserver.crt / apiserver.key).
    pub cert_dir: PathBuf,
    /// Extra names/IPs for a generated certificate.
    pub extra_sans: Vec<String>,
}

/// The certificate and key PEM files to serve: given, or generated once into `cert_dir`.
pub fn ensure_cert(cfg: &SecureConfig) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(c), Some(k)) = (&cfg.cert_file, &cfg.key_file) {
        return Ok((c.clone(), k.clone()));
    }
    let crt = cfg.cert_dir.join("apiserver.crt");
    let key = cfg.cert_dir.join("apiserver.key");
    if crt.exists() && key.exists() {
        return Ok((crt, key));
    }
    std::fs::create_dir_all(&cfg.cert_dir)?;
    let mut sans: Vec<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        "10.96.0.1",
        "10.213.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sans.extend(cfg.extra_sans.iter().cloned());
    let ck = rcgen::generate_simple_self_signed(sans)?;
    std::fs::write(&crt, ck.cert.pem())?;
    write_private(&key, ck.signing_key.serialize_pem().as_bytes())?;
    tracing::info!(cert = %crt.display(), "generated a self-signed serving certificate");
    Ok((crt, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// rustls server config (ring provider, h2 and http/1.1); with `client_ca`, client
/// certificates signed by it are verified (and optional).
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(cert)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| anyhow::anyhow!("no private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(super::client_auth::verifier(ca)?),
        None => builder.with_no_client_auth(),
    };
    let mut sc = builder.with_single_cert(certs, key)?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(sc)
}

/// Accept TLS connections forever; every request is authenticated and authorized. Clients
/// whose hello omits signature_algorithms go to `legacy` (OpenSSL) when it is configured.
pub async fn serve_secure(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    legacy: Option<super::legacy_tls::LegacyAcceptor>,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let legacy = legacy.map(Arc::new);
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let legacy = legacy.clone();
        let state = state.clone();
        tokio::spawn(async move {
            if let Some(legacy) = legacy {
                if super::legacy_tls::is_legacy(&stream).await {
                    match legacy.accept(stream).await {
                        Ok((tls, der)) => {
                            let cert_user = der.and_then(|d| {
                                super::client_auth::user_of_certificate(&rustls::pki_types::CertificateDer::from(d))
                            });
                            serve_connection(tls, cert_user, state).await;
                        }
                        Err(e) => tracing::debug!(%peer, error = %e, "legacy TLS handshake failed"),
                    }
                    return;
                }
            }
            let tls = match acceptor.accept(stream).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            // A verified client certificate names the user of every request on the connection.
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| super::client_auth::user_of_certificate(c));
            serve_connection(tls, cert_user, state).await;
        });
    }
}

/// Serve HTTP on one authenticated TLS connection.
async fn serve_connection<I>(io: I, cert_user: Option<UserInfo>, state: Arc<AppState>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let state = state.clone();
        let cert_user = cert_user.clone();
        async move {
            let out = output(req.headers());
            let user = match (cert_user, bearer(req.headers())) {
                (Some(u), _) => Some(u),
                (None, Some(token)) => match authenticate_token(&state.authenticator, &state.store, &token).await {
                    Some(u) => Some(u),
                    None => return Ok::<_, Infallible>(error_response(&ApiError::Unauthorized, out)),
                },
                (None, None) if state.authorizer.anonymous_allowed() => Some(UserInfo::anonymous()),
                // AlwaysAllow: no anonymous requests, but health and version stay public.
                (None, None) if is_public(req.uri().path()) => None,
                (None, None) => return Ok::<_, Infallible>(error_response(&ApiError::Unauthorized, out)),
            };
            if let Some(u) = user {
                let attrs =
                    super::request_info::attributes(u.clone(), req.method(), req.uri().path(), req.uri().query());
                if let Err(e) = state.authorizer.check(&attrs).await {
                    tracing::debug!(user = %u.name, verb = %attrs.verb, path = %attrs.path, "forbidden");
                    return Ok::<_, Infallible>(error_response(&e, out));
                }
                req.extensions_mut().insert(u);
            }
            Ok::<_, Infallible>(router::route(state, req).await)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(io), svc).await {
        tracing::debug!(error = %e, "connection error");
    }
}

/// The user of a bearer token: the token file, then ServiceAccount tokens, then (when
/// enabled) bootstrap tokens.
pub async fn authenticate_token(auth: &Authenticator, store: &Store, token: &str) -> Option<UserInfo> {
    if let Some(u) = auth.authenticate_token(token) {
        return Some(u);
    }
    let keys = auth.service_account_keys.as_deref();
    if let Some((name, uid, groups)) = crate::registry::service_account::authenticate_token(store, keys, token).await {
        return Some(UserInfo { name, uid, groups });
    }
    if auth.bootstrap_tokens {
        return super::client_auth::authenticate_bootstrap_token(store, token).await;
    }
    None
}

/// Paths anonymous clients may read (system:public-info-viewer).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/version/" | "/healthz/ping" | "/livez/ping"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_parsing_and_bearer_auth() {
        let a = Authenticator::from_csv("# c\nabc,kubelet1,u1,\"system:nodes,extra\"\nxyz,admin,u2\n\n")
            .expect("valid file");
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer abc"),
        );
        let u = a.authenticate(&h).expect("known token");
        assert_eq!(u.name, "kubelet1");
        assert_eq!(u.groups, vec!["system:nodes", "extra", "system:authenticated"]);
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer nope"),
        );
        assert!(a.authenticate(&h).is_none());
        assert!(Authenticator::from_csv("onlytoken,user").is_err());
    }

    #[test]
    fn self_signed_cert_is_generated_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SecureConfig {
            cert_file: None,
            key_file: None,
            cert_dir: dir.path().to_path_buf(),
            extra_sans: vec![],
        };
        let (c, k) = ensure_cert(&cfg).expect("generate");
        let first = std::fs::read(&c).expect("cert");
        let (c2, _) = ensure_cert(&cfg).expect("reuse");
        assert_eq!(first, std::fs::read(c2).expect("cert"));
        server_config(&c, &k, None).expect("rustls accepts it");
    }
}
