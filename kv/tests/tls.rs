//! TLS on the client port through the wire: a CA, a server certificate and client
//! certificates made here; with `--client-cert-auth` a client with a certificate from the CA
//! is served, one without a certificate or with one from another CA is refused, and a plain
//! http listener beside the https one keeps working.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// (cert PEM, key PEM) for `cn`, valid for 127.0.0.1 and localhost.
    fn leaf(&self, cn: &str, server: bool) -> (String, String) {
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = if server {
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

async fn channel(port: u16, ca: &str, identity: Option<(&str, &str)>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((c, k)) = identity {
        tls = tls.identity(Identity::from_pem(c, k));
    }
    Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| e.to_string())
}

async fn put(ch: Channel) -> Result<(), tonic::Status> {
    KvClient::new(ch)
        .put(PutRequest {
            key: b"tls".to_vec(),
            value: b"ok".to_vec(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("test-ca");
    let other = Pki::new("other-ca");
    let (srv_c, srv_k) = pki.leaf("server", true);
    let (cli_c, cli_k) = pki.leaf("root", false);
    let (rogue_c, rogue_k) = other.leaf("root", false);
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let sc = write(dir.path(), "server.pem", &srv_c);
    let sk = write(dir.path(), "server-key.pem", &srv_k);
    let (tls_port, plain_port, peer) = (free_port(), free_port(), free_port());
    let peer_url = format!("http://127.0.0.1:{peer}");
    let _p = Proc(
        Command::new(env!("CARGO_BIN_EXE_kv"))
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &format!("https://127.0.0.1:{tls_port},http://127.0.0.1:{plain_port}"),
                "--advertise-client-urls",
                &format!("https://127.0.0.1:{tls_port}"),
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("t={peer_url}"),
                "--cert-file",
                &sc,
                "--key-file",
                &sk,
                "--trusted-ca-file",
                &ca,
                "--client-cert-auth",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The trusted client is served (retry while the member starts).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(ch) = channel(tls_port, &pki.ca_pem, Some((&cli_c, &cli_k))).await {
            if put(ch).await.is_ok() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "a client with a CA-signed certificate must be served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No client certificate: the handshake or the first call fails.
    let anonymous = match channel(tls_port, &pki.ca_pem, None).await {
        Ok(ch) => put(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(anonymous, "a client without a certificate must be refused");
    // A certificate from another CA: refused too.
    let rogue = match channel(tls_port, &pki.ca_pem, Some((&rogue_c, &rogue_k))).await {
        Ok(ch) => put(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(rogue, "a certificate from another CA must be refused");
    // The plain listener beside it serves the same data.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{plain_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let r = KvClient::new(plain)
        .range(RangeRequest {
            key: b"tls".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.kvs[0].value, b"ok");
}
