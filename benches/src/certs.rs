//! Throwaway certificates for TLS comparisons, made with the `openssl` command: a CA, a
//! server certificate for 127.0.0.1 and a client certificate, all ECDSA P-256.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::load::{ClientTls, TlsFiles};
use crate::server::ServerTls;

/// The PEM files written by [`generate`].
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl CertFiles {
    /// What a client passes: `--cacert ca.crt --cert client.crt --key client.key`.
    pub fn client_files(&self) -> TlsFiles {
        TlsFiles {
            cacert: Some(self.ca_cert.clone()),
            cert: Some(self.client_cert.clone()),
            key: Some(self.client_key.clone()),
        }
    }

    /// What a server gets: its certificate and key, and the CA its clients must chain to.
    pub fn server_tls(&self) -> Result<ServerTls> {
        Ok(ServerTls {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            trusted_ca: self.ca_cert.clone(),
            client: ClientTls::from_files(&self.client_files())?,
        })
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("run openssl (is it installed?)")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A new P-256 key in `name.key` and a CSR for `cn` in `name.csr`.
fn key_and_csr(dir: &Path, name: &str, cn: &str) -> Result<()> {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    )
}

/// Signs `name.csr` with the CA into `name.crt`, with the extensions in `ext`.
fn sign(dir: &Path, name: &str, ext: &str) -> Result<()> {
    let ext_file = format!("{name}.ext");
    fs::write(dir.join(&ext_file), ext).context("write openssl extensions file")?;
    let csr = format!("{name}.csr");
    let crt = format!("{name}.crt");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            &ext_file,
            "-out",
            &crt,
        ],
    )
}

/// Writes `ca.{crt,key}`, `server.{crt,key}` (SAN IP:127.0.0.1, DNS:localhost; server and
/// client auth, as etcd's own gateway dials itself with it) and `client.{crt,key}`
/// (CN=kv-bench, client auth) into `dir`.
pub fn generate(dir: &Path) -> Result<CertFiles> {
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-sha256",
            "-subj",
            "/CN=kv-bench test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    key_and_csr(dir, "server", "127.0.0.1")?;
    sign(
        dir,
        "server",
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth,clientAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    key_and_csr(dir, "client", "kv-bench")?;
    sign(
        dir,
        "client",
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=clientAuth\n",
    )?;
    Ok(CertFiles {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    })
}
