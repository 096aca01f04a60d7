//! End-to-end: the `jepsen` binary against a 3-member cluster of the project's `kv` and of a
//! real etcd 3.4 (Debian's /usr/bin/etcd), in private network namespaces. A short run with kill and partition faults must be valid
//! (exit 0, last line `valid: …`); a run with `--anomaly stale-reads` must be caught
//! (exit 1, last line `INVALID: …`). Skipped (with a message) without etcd; without root the
//! valid run uses loopback members (no partitions) and the anomaly run is skipped.

use std::process::Command;

fn runnable(need_root: bool) -> bool {
    let etcd = std::path::Path::new("/usr/bin/etcd").exists();
    let root = nix::unistd::Uid::effective().is_root();
    if !etcd || (need_root && !root) {
        eprintln!(
            "skipping: needs /usr/bin/etcd{}",
            if need_root { " and root (namespaces)" } else { "" }
        );
        return false;
    }
    true
}

/// Runs the binary; returns (exit code, stdout).
fn jepsen(args: &[&str]) -> (i32, String) {
    let store = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_jepsen"))
        .arg("test")
        .args(args)
        .arg("--store")
        .arg(store.path())
        .output()
        .expect("run jepsen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), stdout)
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

/// `--target etcd`, or `--target kv --kv-bin <the project's kv>`.
fn target(kv: bool) -> Vec<String> {
    if kv {
        vec!["--target".into(), "kv".into(), "--kv-bin".into(), kv_bin()]
    } else {
        vec!["--target".into(), "etcd".into()]
    }
}

/// A 30 s kill + partition schedule on 3 members must be valid, with faults injected.
fn kill_and_partition_is_valid(kv: bool) {
    if !runnable(false) {
        return;
    }
    let mut args = target(kv);
    args.extend(
        [
            "--members",
            "3",
            "--time-limit",
            "30",
            "--nemesis",
            "kill,partition",
            "--nemesis-interval",
            "1.5",
            "--concurrency",
            "8",
        ]
        .map(String::from),
    );
    let (code, out) = jepsen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(last_line(&out).starts_with("valid:"), "last line: {}", last_line(&out));
    assert_eq!(code, 0);
    assert!(!out.contains("faults: 0"), "no fault was injected");
}

/// The stale-read self-test must be caught, with a counterexample.
fn stale_reads_are_detected(kv: bool) {
    if !runnable(true) {
        return;
    }
    let mut args = target(kv);
    args.extend(
        [
            "--time-limit",
            "20",
            "--nemesis",
            "partition",
            "--anomaly",
            "stale-reads",
            "--concurrency",
            "6",
        ]
        .map(String::from),
    );
    let (code, out) = jepsen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(last_line(&out).starts_with("INVALID"), "last line: {}", last_line(&out));
    assert!(
        out.contains("serializable read recorded as linearizable"),
        "counterexample should show a stale read"
    );
    assert_eq!(code, 1);
}

/// The project's `kv` binary (built by `cargo build --workspace --bins`): `KV_BIN`, else next
/// to this test's executable. Missing is a failure, not a skip.
fn kv_bin() -> String {
    if let Ok(p) = std::env::var("KV_BIN") {
        return p;
    }
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join("kv");
    assert!(
        p.exists(),
        "kv binary not found at {} (run cargo build --workspace --bins)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

#[test]
fn etcd_with_kill_and_partition_is_valid() {
    kill_and_partition_is_valid(false);
}

#[test]
fn stale_reads_anomaly_is_detected() {
    stale_reads_are_detected(false);
}

#[test]
fn kv_with_kill_and_partition_is_valid() {
    kill_and_partition_is_valid(true);
}

#[test]
fn kv_stale_reads_anomaly_is_detected() {
    stale_reads_are_detected(true);
}
