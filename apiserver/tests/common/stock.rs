//! A stock kube-apiserver v1.20.2 (built by shared/stock-k8s/build.sh) on a test store: secure
//! port only, a bearer token, keys and certificates in a temp dir, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::http::Http;
use super::{free_port, Kubectl, Proc};

/// The bearer token of the `admin` user (group `system:masters`) in the token file.
pub const STOCK_TOKEN: &str = "interop-admin-token";

/// The cached stock binary: `$APISERVER_TEST_STOCK_KUBE_APISERVER`, else build.sh's cache
/// (`$STOCK_K8S_CACHE`, default `$HOME/.cache/stock-k8s`); None when it is not there.
pub fn stock_kube_apiserver() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("APISERVER_TEST_STOCK_KUBE_APISERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let cache = std::env::var("STOCK_K8S_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/stock-k8s")))
        .ok()?;
    Some(cache.join("kubernetes-1.20.2/_output/local/bin/linux/amd64/kube-apiserver")).filter(|p| p.is_file())
}

pub struct StockApiServer {
    pub port: u16,
    pub http: Http,
    proc: Proc,
    dir: tempfile::TempDir,
}

impl StockApiServer {
    /// Start `bin` on `etcd_servers` and wait until `/readyz` passes.
    ///
    /// Flags (1.20 refuses to start without the first four items):
    /// - `--secure-port` on `--bind-address 127.0.0.1`: any `--insecure-port` but 0 is refused;
    /// - `--token-auth-file`: anonymous requests are off under the default AlwaysAllow
    ///   authorizer, so clients send a bearer token (user `admin`, group `system:masters`);
    /// - `--service-account-issuer`, `--service-account-signing-key-file` and
    ///   `--service-account-key-file` (required): an ECDSA P-256 key made with rcgen;
    /// - `--cert-dir`: the self-signed serving certificate goes to the temp dir, not
    ///   /var/run/kubernetes;
    /// - `--disable-admission-plugins=ServiceAccount`: with no controller-manager, new
    ///   namespaces get no `default` ServiceAccount (nor token Secrets), so that plugin rejects
    ///   every pod ("error looking up service account <ns>/default");
    /// - `--service-cluster-ip-range 10.96.0.0/12`: the range this apiserver allocates from
    ///   (default 10.0.0.0/24), and `--advertise-address 127.0.0.1`: the `kubernetes` Service's
    ///   endpoint stays on loopback.
    pub fn start(bin: &Path, etcd_servers: &str) -> StockApiServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 temp path").to_string();
        std::fs::write(
            path("tokens.csv"),
            format!("{STOCK_TOKEN},admin,1,\"system:masters\"\n"),
        )
        .expect("token file");
        let key = rcgen::KeyPair::generate().expect("service account key");
        std::fs::write(path("sa.key"), key.serialize_pem()).expect("sa.key");
        std::fs::write(path("sa.pub"), key.public_key_pem()).expect("sa.pub");
        let port = free_port();
        let log = std::fs::File::create(path("kube-apiserver.log")).expect("log file");
        let child = Command::new(bin)
            .args(["--etcd-servers", etcd_servers])
            .args(["--secure-port", &port.to_string()])
            .args(["--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1"])
            .args(["--token-auth-file", &path("tokens.csv")])
            .args(["--cert-dir", &path("certs")])
            .args(["--service-account-issuer", "https://kubernetes.default.svc"])
            .args(["--service-account-signing-key-file", &path("sa.key")])
            .args(["--service-account-key-file", &path("sa.pub")])
            .args(["--service-cluster-ip-range", "10.96.0.0/12"])
            .args(["--disable-admission-plugins", "ServiceAccount"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut s = StockApiServer {
            port,
            http: Http::tls(port, STOCK_TOKEN),
            proc: Proc(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = s.http.try_request("GET", "/readyz", "application/json", "") {
                break;
            }
            let exited = s.proc.0.try_wait().ok().flatten();
            if Instant::now() > deadline || exited.is_some() {
                panic!(
                    "stock kube-apiserver not ready on {port} (exit: {exited:?}); log tail:\n{}",
                    s.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        s
    }

    /// The last `n` lines of its log (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// kubectl against its secure port with the admin token.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::with_args(
            &self.http.url(),
            &["--token", STOCK_TOKEN, "--insecure-skip-tls-verify"],
        )
    }
}
