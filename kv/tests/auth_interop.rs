//! etcd's auth walk-through with Debian's etcdctl, run against `kv` and against a real etcd
//! 3.4.23 started here; the outputs must match line for line (ports aside).

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn start(bin: &str, dir: &Path) -> (Proc, String) {
    let (c, p) = (free_port(), free_port());
    let client = format!("http://127.0.0.1:{c}");
    let peer = format!("http://127.0.0.1:{p}");
    let child = Command::new(bin)
        .args(["--name", "n", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("n={peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let ep = format!("127.0.0.1:{c}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &ep, "get", "probe"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "{bin} did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    (Proc(child), ep)
}

fn walk(endpoint: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/auth_walk.sh");
    let out = Command::new("bash").arg(script).arg(endpoint).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        // etcdctl's own retry logging carries timestamps and client IDs.
        .filter(|l| !l.starts_with("{\"level\""))
        .map(|l| l.replace(endpoint, "ENDPOINT"))
        .collect()
}

#[test]
fn etcdctl_auth_walk_through_matches_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let (_kv, kv_ep) = start(env!("CARGO_BIN_EXE_kv"), &dir.path().join("kv"));
    let (_etcd, etcd_ep) = start("/usr/bin/etcd", &dir.path().join("etcd"));
    let ours = walk(&kv_ep);
    let theirs = walk(&etcd_ep);
    // The walk must really exercise allowed and denied paths on both.
    assert!(theirs.iter().any(|l| l.contains("permission denied")), "{theirs:#?}");
    assert!(theirs.iter().any(|l| l == "rootval"), "{theirs:#?}");
    for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
        assert_eq!(
            a,
            b,
            "line {i} differs\nkv:\n{}\netcd:\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "kv:\n{}\netcd:\n{}",
        ours.join("\n"),
        theirs.join("\n")
    );
}
