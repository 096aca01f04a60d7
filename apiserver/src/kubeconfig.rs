//! kubeconfig files (clusters, users, contexts, as client-go reads them): where a client of the
//! API server connects and how it authenticates, turned into a [`Connection`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;

/// Why a kubeconfig cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("parse {0}: {1}")]
    Parse(PathBuf, String),
    #[error("{0}")]
    Invalid(String),
    #[error("TLS: {0}")]
    Tls(String),
}

type Result<T> = std::result::Result<T, KubeconfigError>;

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    token: Option<String>,
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
    #[serde(default)]
    current_context: String,
}

/// Where and how to reach an API server.
#[derive(Clone)]
pub struct Connection {
    /// `https://host:port` or `http://host:port`, without a trailing slash.
    pub server: String,
    /// For https servers.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("tls", &self.tls.is_some())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Connection {
    /// A plain-HTTP server (`--master http://…` without a kubeconfig).
    pub fn plain(server: &str) -> Self {
        Self {
            server: server.trim_end_matches('/').to_string(),
            tls: None,
            token: None,
        }
    }

    /// The current context of the kubeconfig at `path`; `master` (kube's `--master`)
    /// overrides its server.
    pub fn from_kubeconfig(path: &Path, master: Option<&str>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| KubeconfigError::Read(path.to_path_buf(), e))?;
        let cfg: Kubeconfig =
            serde_norway::from_str(&text).map_err(|e| KubeconfigError::Parse(path.to_path_buf(), e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.connection(base, master)
    }
}

impl Kubeconfig {
    fn connection(&self, base: &Path, master: Option<&str>) -> Result<Connection> {
        let ctx = if self.current_context.is_empty() && self.contexts.len() == 1 {
            &self.contexts[0].value
        } else {
            &self
                .contexts
                .iter()
                .find(|c| c.name == self.current_context)
                .ok_or_else(|| KubeconfigError::Invalid(format!("context {:?} not found", self.current_context)))?
                .value
        };
        let cluster = &self
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .ok_or_else(|| KubeconfigError::Invalid(format!("cluster {:?} not found", ctx.cluster)))?
            .value;
        let empty = UserEntry::default();
        let user = match self.users.iter().find(|u| u.name == ctx.user) {
            Some(u) => &u.value,
            None if ctx.user.is_empty() => &empty,
            None => return Err(KubeconfigError::Invalid(format!("user {:?} not found", ctx.user))),
        };
        let server = master.unwrap_or(&cluster.server).trim_end_matches('/').to_string();
        if server.is_empty() {
            return Err(KubeconfigError::Invalid("no server".into()));
        }
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) => Some(String::from_utf8_lossy(&read(base, f)?).trim().to_string()),
            (None, None) => None,
        };
        let tls = if server.starts_with("https://") {
            Some(Arc::new(tls_config(base, cluster, user)?))
        } else {
            None
        };
        Ok(Connection { server, tls, token })
    }
}

/// A file named in a kubeconfig: relative paths are relative to the kubeconfig's directory.
fn read(base: &Path, p: &Path) -> Result<Vec<u8>> {
    let full = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    std::fs::read(&full).map_err(|e| KubeconfigError::Read(full, e))
}

/// Inline `*-data` (base64) or the named file.
fn data_or_file(base: &Path, data: &Option<String>, file: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    if let Some(d) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| KubeconfigError::Invalid(format!("bad base64 data: {e}")))?;
        return Ok(Some(bytes));
    }
    file.as_ref().map(|f| read(base, f)).transpose()
}

fn tls_config(base: &Path, cluster: &ClusterEntry, user: &UserEntry) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| KubeconfigError::Tls(e.to_string()))?;
    let builder = if cluster.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::NoVerify::new(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let ca = data_or_file(
            base,
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        )?
        .ok_or_else(|| {
            KubeconfigError::Invalid(
                "an https server needs certificate-authority(-data) or insecure-skip-tls-verify".into(),
            )
        })?;
        for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
            let cert = cert.map_err(|e| KubeconfigError::Tls(format!("certificate authority: {e}")))?;
            roots.add(cert).map_err(|e| KubeconfigError::Tls(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(KubeconfigError::Tls("certificate authority: no certificates".into()));
        }
        builder.with_root_certificates(roots)
    };
    let cert = data_or_file(base, &user.client_certificate_data, &user.client_certificate)?;
    let key = data_or_file(base, &user.client_key_data, &user.client_key)?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| KubeconfigError::Tls(format!("client certificate: {e}")))?;
            let key = rustls_pemfile::private_key(&mut key.as_slice())
                .map_err(|e| KubeconfigError::Tls(format!("client key: {e}")))?
                .ok_or_else(|| KubeconfigError::Tls("client key: no private key".into()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| KubeconfigError::Tls(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(KubeconfigError::Invalid(
            "client-certificate and client-key go together".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Kubeconfig {
        serde_norway::from_str(y).expect("kubeconfig")
    }

    #[test]
    fn current_context_picks_cluster_and_token() {
        let k = parse(
            "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
             clusters:\n- name: one\n  cluster: {server: 'http://a:1'}\n- name: two\n  cluster: {server: 'http://b:2/'}\n\
             users:\n- name: u\n  user: {token: secret}\n\
             contexts:\n- name: a\n  context: {cluster: one, user: u}\n- name: b\n  context: {cluster: two, user: u}\n",
        );
        let c = k.connection(Path::new("/"), None).expect("connection");
        assert_eq!(c.server, "http://b:2");
        assert_eq!(c.token.as_deref(), Some("secret"));
        assert!(c.tls.is_none());
        let c = k.connection(Path::new("/"), Some("http://m:3")).expect("connection");
        assert_eq!(c.server, "http://m:3");
    }

    #[test]
    fn missing_pieces_are_errors() {
        let k = parse("current-context: x\ncontexts: []\n");
        assert!(matches!(k.connection(Path::new("/"), None), Err(KubeconfigError::Invalid(m)) if m.contains("\"x\"")));
        let k = parse(
            "clusters:\n- name: c\n  cluster: {server: 'https://a:1'}\ncontexts:\n- name: x\n  context: {cluster: c}\n",
        );
        let e = k
            .connection(Path::new("/"), None)
            .expect_err("https without a CA is refused");
        assert!(e.to_string().contains("certificate-authority"), "{e}");
        let k = parse(
            "clusters:\n- name: c\n  cluster: {server: 'https://a:1', insecure-skip-tls-verify: true}\n\
             contexts:\n- name: x\n  context: {cluster: c}\n",
        );
        assert!(k.connection(Path::new("/"), None).expect("insecure").tls.is_some());
    }

    #[test]
    fn token_file_is_relative_to_the_kubeconfig() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tok"), "abc\n").expect("write");
        let k = parse(
            "clusters:\n- name: c\n  cluster: {server: 'http://a:1'}\nusers:\n- name: u\n  user: {token-file: tok}\n\
             contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
        );
        assert_eq!(k.connection(dir.path(), None).expect("c").token.as_deref(), Some("abc"));
    }
}
