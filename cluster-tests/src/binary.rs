//! Locates the binaries a black-box test spawns: the server under test (`kv`), the
//! reference server (Debian's etcd 3.4.23), etcdctl and python.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Which server binary a [`crate::Server`] runs. Both take etcd's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The reference: real etcd (`ETCD_BIN`, default `/usr/bin/etcd`).
    Etcd,
    /// The server under test (`KV_BIN`, `$CARGO_TARGET_DIR/debug/kv`, or `target/debug/kv`
    /// next to the test executable). `KV_BIN=/usr/bin/etcd` points it at a second etcd.
    Kv,
}

impl Kind {
    /// Short label for messages and member names.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Kv => "kv",
        }
    }

    /// The binary to spawn, or an error naming every place that was looked at.
    pub fn binary(self) -> Result<PathBuf> {
        match self {
            Kind::Etcd => existing("ETCD_BIN", &[PathBuf::from("/usr/bin/etcd")], "etcd"),
            Kind::Kv => existing("KV_BIN", &kv_candidates(), "kv"),
        }
    }
}

/// etcdctl (`ETCDCTL_BIN`, default `/usr/bin/etcdctl`); always run with `ETCDCTL_API=3`.
pub fn etcdctl() -> Result<PathBuf> {
    existing("ETCDCTL_BIN", &[PathBuf::from("/usr/bin/etcdctl")], "etcdctl")
}

/// The python interpreter for client scripts (`PYTHON`, default `python3` on `PATH`).
pub fn python() -> PathBuf {
    std::env::var_os("PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// `cluster-tests/scripts/<name>`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

fn kv_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        out.push(PathBuf::from(dir).join("debug").join("kv"));
    }
    // Test executables live in target/<profile>/deps/; the binary in target/<profile>/.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            out.push(profile_dir.join("kv"));
        }
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/kv"));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn existing(env: &str, defaults: &[PathBuf], what: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{env}={} does not name an existing file", p.display());
    }
    if let Some(p) = defaults.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    let tried: Vec<String> = defaults.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "the `{what}` binary was not found (tried ${env} and {}); build it with \
         `cargo build --workspace --bins` or set {env}=/path/to/{what}",
        tried.join(", ")
    )
}
