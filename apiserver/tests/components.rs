//! The standalone `controller-manager` and `scheduler` binaries: they reach the API server only
//! through its HTTP API (`--master` or a kubeconfig with a CA and a token), elect one leader
//! on a coordination.k8s.io/v1 Lease as kube's components do, and a standby takes over when
//! the leader dies.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for, ApiServer, Proc, Store};
use serde_json::{json, Value};

const JSON: &str = "application/json";

/// A component process with its log in `dir/<name>.log`.
struct Component {
    proc: Proc,
    log: std::path::PathBuf,
    /// Its `--port` (healthz), when given.
    port: Option<String>,
}

impl Component {
    fn start(bin: &str, name: &str, dir: &Path, args: &[&str]) -> Component {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start component");
        let port = args
            .iter()
            .position(|a| *a == "--port")
            .and_then(|i| args.get(i + 1))
            .map(|p| p.to_string());
        Component {
            proc: Proc(child),
            log,
            port,
        }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn leads(&self) -> bool {
        self.log().contains("successfully acquired lease")
    }
    fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}

fn lease(api: &ApiServer, name: &str) -> Option<Value> {
    let (code, l) = api.json(
        "GET",
        &format!("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"),
        JSON,
        "",
    );
    (code == 200).then_some(l)
}

fn pods_of(api: &ApiServer, selector: &str) -> Vec<Value> {
    let (code, l) = api.json(
        "GET",
        &format!("/api/v1/namespaces/default/pods?labelSelector={selector}"),
        JSON,
        "",
    );
    assert_eq!(code, 200, "{l}");
    l["items"].as_array().cloned().unwrap_or_default()
}

const FAST_ELECTION: &[&str] = &[
    "--leader-elect-lease-duration",
    "3s",
    "--leader-elect-renew-deadline",
    "2s",
    "--leader-elect-retry-period",
    "500ms",
];

/// Two controller-managers: one takes the Lease and runs the controllers, the other waits;
/// SIGKILL the leader and the standby takes the Lease (one more transition) and keeps the
/// ReplicaSet at its replica count.
#[test]
fn controller_managers_elect_one_leader_and_fail_over() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_controller-manager");
    let start = |name: &str| {
        let port = common::free_port().to_string();
        let mut args = vec!["--master", &api.url, "--port", &port];
        args.extend_from_slice(FAST_ELECTION);
        Component::start(bin, name, dir.path(), &args)
    };
    let a = start("a");
    let b = start("b");
    let first = wait_for(20, "a leader", || {
        let l = lease(&api, "kube-controller-manager")?;
        let held = l["spec"]["holderIdentity"].as_str().is_some_and(|h| !h.is_empty());
        held.then_some(l)
    });
    assert_eq!(first["spec"]["leaseDurationSeconds"], 3, "{first}");
    assert_eq!(first["spec"]["leaseTransitions"], 0, "{first}");
    assert!(
        first["spec"]["renewTime"].as_str().is_some_and(|t| t.contains('.')),
        "MicroTime: {first}"
    );
    let a_leads = wait_for(10, "the leader's log", || match (a.leads(), b.leads()) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    });
    let (leader, standby) = if a_leads { (a, b) } else { (b, a) };
    // Only the leader runs controllers.
    wait_for(10, "the leader's controllers", || {
        leader.log().contains("starting controllers").then_some(())
    });
    assert!(!standby.log().contains("starting controllers"), "{}", standby.log());
    // Both serve kube's insecure healthz port, leader or not.
    for c in [&leader, &standby] {
        let port: u16 = c.port.as_deref().and_then(|p| p.parse().ok()).expect("--port");
        let h = common::Http::plain(port);
        let (code, body) = wait_for(10, "healthz", || h.try_request("GET", "/healthz", JSON, "").ok());
        assert_eq!((code, body.as_str()), (200, "ok"));
    }
    let rs = json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}});
    let (code, b) = api.json(
        "POST",
        "/apis/apps/v1/namespaces/default/replicasets",
        JSON,
        &rs.to_string(),
    );
    assert_eq!(code, 201, "{b}");
    wait_for(20, "2 pods from the leader", || {
        (pods_of(&api, "app%3Dweb").len() == 2).then_some(())
    });
    // The leader dies without releasing the lease; the standby waits out the lease duration.
    let holder = first["spec"]["holderIdentity"].clone();
    let killed = Instant::now();
    let mut leader = leader;
    let _ = Command::new("kill").args(["-KILL", &leader.pid().to_string()]).status();
    let _ = leader.proc.0.wait();
    let second = wait_for(30, "the standby to take the lease", || {
        let l = lease(&api, "kube-controller-manager")?;
        (l["spec"]["holderIdentity"] != holder).then_some(l)
    });
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "took the lease of a live-looking holder after {took:?}"
    );
    assert_eq!(second["spec"]["leaseTransitions"], 1, "{second}");
    wait_for(10, "the standby's log to say it leads", || {
        standby.leads().then_some(())
    });
    wait_for(10, "the new leader's controllers", || {
        standby.log().contains("starting controllers").then_some(())
    });
    let (code, b) = api.json(
        "PATCH",
        "/apis/apps/v1/namespaces/default/replicasets/web",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(code, 200, "{b}");
    wait_for(20, "3 pods from the new leader", || {
        (pods_of(&api, "app%3Dweb").len() == 3).then_some(())
    });
    // The election is recorded as kube's components do.
    let (_, events) = api.json("GET", "/api/v1/namespaces/kube-system/events", JSON, "");
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["reason"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        reasons.iter().filter(|r| **r == "LeaderElection").count() >= 2,
        "{events}"
    );
}

/// The scheduler binary through the secure port with a kubeconfig (CA file + bearer token):
/// it takes the kube-scheduler Lease and binds a pending pod to the only fitting node.
#[test]
fn scheduler_binary_binds_pods_through_a_kubeconfig() {
    let store = Store::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "sched-token,system:kube-scheduler,1,\"system:masters\"\n").expect("tokens");
    let port = common::free_port().to_string();
    let cert_dir = dir.path().join("certs");
    let api = ApiServer::start_with(
        &store.endpoint,
        &[
            "--secure-port",
            &port,
            "--bind-address",
            "127.0.0.1",
            "--cert-dir",
            cert_dir.to_str().expect("utf-8"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
        ],
    );
    let kubeconfig = dir.path().join("scheduler.conf");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: s\n\
             clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: certs/apiserver.crt\n\
             users:\n- name: u\n  user:\n    token: sched-token\n\
             contexts:\n- name: s\n  context: {{cluster: c, user: u}}\n"
        ),
    )
    .expect("kubeconfig");
    // A wrong token is refused and the scheduler cannot take the lease.
    let bad = dir.path().join("bad.conf");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&kubeconfig)
            .expect("read")
            .replace("sched-token", "wrong"),
    )
    .expect("bad kubeconfig");
    let bin = env!("CARGO_BIN_EXE_scheduler");
    let mut args = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8"), "--port", "0"];
    args.extend_from_slice(FAST_ELECTION);
    let sched = Component::start(bin, "scheduler", dir.path(), &args);
    let node = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},
        "status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
            "conditions":[{"type":"Ready","status":"True"}]}});
    let (code, b) = api.json("POST", "/api/v1/nodes", JSON, &node.to_string());
    assert_eq!(code, 201, "{b}");
    let pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
        "spec":{"containers":[{"name":"c","image":"busybox"}]}});
    let (code, b) = api.json("POST", "/api/v1/namespaces/default/pods", JSON, &pod.to_string());
    assert_eq!(code, 201, "{b}");
    wait_for(30, "the pod to be bound", || {
        let (_, p) = api.json("GET", "/api/v1/namespaces/default/pods/p", JSON, "");
        (p["spec"]["nodeName"] == "n1").then_some(())
    });
    let l = lease(&api, "kube-scheduler").expect("kube-scheduler lease");
    assert!(
        l["spec"]["holderIdentity"].as_str().is_some_and(|h| !h.is_empty()),
        "{l}"
    );
    assert!(sched.leads(), "{}", sched.log());
    let mut bad_args = vec!["--kubeconfig", bad.to_str().expect("utf-8"), "--port", "0"];
    bad_args.extend_from_slice(FAST_ELECTION);
    bad_args.extend_from_slice(&["--leader-elect-resource-name", "other"]);
    let refused = Component::start(bin, "refused", dir.path(), &bad_args);
    wait_for(20, "the refusal in the log", || {
        refused.log().contains("401").then_some(())
    });
    assert!(lease(&api, "other").is_none(), "a wrong token must not create a lease");
    assert!(!refused.leads());
}

/// Bad flags end the process with an error naming the problem.
#[test]
fn component_flags_are_checked() {
    let bin = env!("CARGO_BIN_EXE_controller-manager");
    let out = Command::new(bin).args(["--port", "0"]).output().expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither --kubeconfig nor --master"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .args([
            "--master",
            "http://127.0.0.1:1",
            "--leader-elect-renew-deadline",
            "20s",
            "--port",
            "0",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leaseDuration must be greater than renewDeadline"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .args([
            "--master",
            "http://127.0.0.1:1",
            "--leader-elect-lease-duration",
            "soon",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
}

/// `kubectl get cs` (seed 004): etcd healthy through its /health, components that run in
/// process healthy, a controller-manager that is neither in process nor listening on kube's
/// insecure port Unhealthy with the probe's error; a standalone scheduler on 10251 would be probed.
#[test]
fn componentstatuses_report_each_component() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--scheduler=true", "--controllers="]);
    let kubectl = common::Kubectl::new(&api.url);
    let out = kubectl.ok(&["get", "componentstatuses"]);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in:\n{out}"))
            .to_string()
    };
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        line("scheduler").contains("Healthy") && line("scheduler").contains("ok"),
        "{out}"
    );
    assert!(line("etcd-0").contains("Healthy"), "{out}");
    assert!(line("etcd-0").contains(r#"{"health":"true"#), "{out}");
    let cm = line("controller-manager");
    if common::free_port_is(10252) {
        assert!(cm.contains("Unhealthy"), "{out}");
        assert!(cm.contains("127.0.0.1:10252"), "{out}");
    }
    let (code, one) = api.json("GET", "/api/v1/componentstatuses/etcd-0", JSON, "");
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["conditions"][0]["type"], "Healthy");
    assert_eq!(one["conditions"][0]["status"], "True");
    let (code, _) = api.json("GET", "/api/v1/componentstatuses/etcd-9", JSON, "");
    assert_eq!(code, 500, "kube answers an unknown component with an internal error");
    let (code, _) = api.json("DELETE", "/api/v1/componentstatuses/etcd-0", JSON, "");
    assert_eq!(code, 405);
    let short = kubectl.ok(&["get", "cs", "-o", "name"]);
    assert!(short.contains("componentstatus/etcd-0"), "{short}");
}
