//! The secure port: rustls (ring) serving certificate (given, or self-signed and kept in
//! `--cert-dir` on first start), bearer-token authentication from a kube-apiserver
//! `--token-auth-file` (CSV: token,user,uid,"group1,group2"), then the normal router.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::encoding::{error_response, output};
use super::{router, AppState};
use crate::error::ApiError;

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The insecure port's user (kube-apiserver's `system:unsecured`, a cluster admin).
    pub fn unsecured() -> Self {
        UserInfo {
            name: "system:unsecured".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }
}

/// Static bearer tokens (`--token-auth-file`).
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
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
        })
    }

    /// The user of an `Authorization: Bearer` header, if the token is known.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Option<UserInfo> {
        let token = bearer(headers)?;
        let mut u = self.tokens.get(&token)?.clone();
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

/// Accept TLS connections forever; every request must carry a known bearer token.
pub async fn serve_secure(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    auth: Arc<Authenticator>,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        let auth = auth.clone();
        tokio::spawn(async move {
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
            let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                let state = state.clone();
                let auth = auth.clone();
                let cert_user = cert_user.clone();
                async move {
                    let user = match cert_user {
                        Some(u) => Some(u),
                        None => authenticate_bearer(&auth, &state, req.headers()).await,
                    };
                    match user {
                        Some(u) => {
                            req.extensions_mut().insert(u);
                        }
                        None if !is_public(req.uri().path()) => {
                            let out = output(req.headers());
                            return Ok::<_, Infallible>(error_response(&ApiError::Unauthorized, out));
                        }
                        None => {}
                    }
                    Ok::<_, Infallible>(router::route(state, req).await)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}

/// The user of a bearer token: the token file, then ServiceAccount tokens, then (when
/// enabled) bootstrap tokens.
async fn authenticate_bearer(auth: &Authenticator, state: &AppState, headers: &http::HeaderMap) -> Option<UserInfo> {
    if let Some(u) = auth.authenticate(headers) {
        return Some(u);
    }
    let token = bearer(headers)?;
    if let Some((name, uid, groups)) = crate::registry::service_account::authenticate_token(&state.store, &token).await
    {
        return Some(UserInfo { name, uid, groups });
    }
    if auth.bootstrap_tokens {
        return super::client_auth::authenticate_bootstrap_token(&state.store, &token).await;
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
