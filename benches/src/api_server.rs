//! Spawning the two API servers that `api-compare` measures, a stock kube-apiserver v1.20.2
//! and this project's `apiserver`, on one store with the same serving certificate, token
//! file and storage encoding; readiness (`/readyz`), peak RSS, stop. Killed on drop.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::Method;

use crate::api_client::Target;
use crate::server::free_port;

/// Which API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKind {
    /// Stock kube-apiserver v1.20.2.
    Stock,
    /// This workspace's `apiserver`.
    Ours,
}

impl ApiKind {
    pub fn name(self) -> &'static str {
        match self {
            ApiKind::Stock => "stock",
            ApiKind::Ours => "ours",
        }
    }
}

/// Files both servers share: serving certificate and key (SAN IP:127.0.0.1), the CA that
/// signed it, the bearer-token CSV and the service-account key (stock only).
#[derive(Clone, Debug)]
pub struct Shared {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub tokens: PathBuf,
    pub token: String,
    pub sa_key: PathBuf,
    /// `--storage-media-type` of both servers.
    pub media_type: String,
}

/// The bearer token (user `admin`, group `system:masters`) every request carries.
pub const TOKEN: &str = "kv-bench-api-compare-token";

impl Shared {
    /// Writes the token file and a 2048-bit RSA service-account key (`openssl genrsa`)
    /// into `dir`; `ca_cert`, `cert` and `key` come from [`crate::certs::generate`].
    pub fn create(dir: &Path, ca_cert: PathBuf, cert: PathBuf, key: PathBuf, media_type: &str) -> Result<Shared> {
        fs::create_dir_all(dir)?;
        let tokens = dir.join("tokens.csv");
        fs::write(&tokens, format!("{TOKEN},admin,admin,\"system:masters\"\n")).context("write tokens.csv")?;
        let sa_key = dir.join("sa.key");
        let out = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&sa_key)
            .arg("2048")
            .output()
            .context("run openssl genrsa")?;
        anyhow::ensure!(
            out.status.success(),
            "openssl genrsa failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Shared {
            ca_cert,
            cert,
            key,
            tokens,
            token: TOKEN.into(),
            sa_key,
            media_type: media_type.into(),
        })
    }
}

/// The command line of `kind` on `etcd` (a client URL), serving HTTPS on `port`. Ours also
/// needs its plain-HTTP port (`insecure_port`; nothing is measured there).
pub fn args(kind: ApiKind, etcd: &str, port: u16, insecure_port: u16, dir: &Path, s: &Shared) -> Vec<String> {
    let p = |p: &Path| p.display().to_string();
    let mut a: Vec<String> = vec![
        "--etcd-servers".into(),
        etcd.into(),
        "--secure-port".into(),
        port.to_string(),
        "--bind-address".into(),
        "127.0.0.1".into(),
        "--advertise-address".into(),
        "127.0.0.1".into(),
        "--tls-cert-file".into(),
        p(&s.cert),
        "--tls-private-key-file".into(),
        p(&s.key),
        "--cert-dir".into(),
        p(&dir.join("certs")),
        "--token-auth-file".into(),
        p(&s.tokens),
        "--storage-media-type".into(),
        s.media_type.clone(),
    ];
    match kind {
        ApiKind::Stock => a.extend(
            [
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                &p(&s.sa_key),
                "--service-account-signing-key-file",
                &p(&s.sa_key),
                "--service-cluster-ip-range",
                "10.96.0.0/12",
                "--authorization-mode",
                "AlwaysAllow",
                "--disable-admission-plugins",
                "ServiceAccount",
            ]
            .map(String::from),
        ),
        ApiKind::Ours => a.extend(
            [
                "--insecure-port",
                &insecure_port.to_string(),
                "--insecure-bind-address",
                "127.0.0.1",
                "--controllers=",
                "--scheduler=false",
            ]
            .map(String::from),
        ),
    }
    a
}

/// One API server process.
pub struct ApiServer {
    pub kind: ApiKind,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub command: String,
    child: Option<Child>,
}

impl ApiServer {
    /// Spawns `bin` as `kind` on `etcd` with [`args`] and then `extra`; state and log
    /// under `dir`. Does not wait.
    pub fn start(kind: ApiKind, bin: &Path, etcd: &str, dir: &Path, s: &Shared, extra: &[String]) -> Result<ApiServer> {
        fs::create_dir_all(dir.join("certs"))?;
        let port = free_port()?;
        let insecure = free_port()?;
        let mut argv = args(kind, etcd, port, insecure, dir, s);
        argv.extend(extra.iter().cloned());
        let log = dir.join(format!("{}.log", kind.name()));
        let f = fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = Command::new(bin)
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        Ok(ApiServer {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            command: format!("{} {}", bin.display(), argv.join(" ")),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How it exited, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Polls `GET /readyz` (with the token) until 200; returns the time since `since`.
    pub async fn wait_ready(&mut self, target: &Target, since: Instant, timeout: Duration) -> Result<Duration> {
        loop {
            if let Some(st) = self.exited() {
                anyhow::bail!(
                    "{} exited with {st} before /readyz passed; log tail:\n{}",
                    self.kind.name(),
                    self.log_tail(20)
                );
            }
            if let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(2), target.connect()).await {
                if let Ok(Ok(r)) =
                    tokio::time::timeout(Duration::from_secs(2), c.request(Method::GET, "/readyz", None)).await
                {
                    if r.status.as_u16() == 200 {
                        return Ok(since.elapsed());
                    }
                }
            }
            if since.elapsed() > timeout {
                anyhow::bail!(
                    "{} not ready after {timeout:?}; log tail:\n{}",
                    self.kind.name(),
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident set size so far, bytes (`VmHWM`).
    pub fn peak_rss(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after `grace`; None if it had to be killed (or was not running).
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        crate::server::stop_child(self.child.take()?, grace)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{args, ApiKind, Shared};
    use std::path::{Path, PathBuf};

    fn shared() -> Shared {
        Shared {
            ca_cert: PathBuf::from("/c/ca.crt"),
            cert: PathBuf::from("/c/server.crt"),
            key: PathBuf::from("/c/server.key"),
            tokens: PathBuf::from("/c/tokens.csv"),
            token: "t".into(),
            sa_key: PathBuf::from("/c/sa.key"),
            media_type: "application/vnd.kubernetes.protobuf".into(),
        }
    }

    fn value_of<'a>(a: &'a [String], flag: &str) -> Option<&'a str> {
        a.iter()
            .position(|x| x == flag)
            .and_then(|i| a.get(i + 1))
            .map(String::as_str)
    }

    #[test]
    fn both_servers_get_the_same_serving_flags() {
        let s = shared();
        let stock = args(ApiKind::Stock, "http://127.0.0.1:1", 10, 11, Path::new("/d"), &s);
        let ours = args(ApiKind::Ours, "http://127.0.0.1:1", 10, 11, Path::new("/d"), &s);
        for flag in [
            "--etcd-servers",
            "--secure-port",
            "--bind-address",
            "--tls-cert-file",
            "--tls-private-key-file",
            "--token-auth-file",
            "--storage-media-type",
        ] {
            assert_eq!(value_of(&stock, flag), value_of(&ours, flag), "{flag}");
            assert!(value_of(&stock, flag).is_some(), "{flag}");
        }
        assert_eq!(value_of(&stock, "--authorization-mode"), Some("AlwaysAllow"));
        assert!(
            !stock.iter().any(|a| a == "--insecure-port"),
            "1.20 refuses a non-zero insecure port"
        );
        assert_eq!(value_of(&ours, "--insecure-port"), Some("11"));
        assert!(ours.iter().any(|a| a == "--controllers=") && ours.iter().any(|a| a == "--scheduler=false"));
    }
}
