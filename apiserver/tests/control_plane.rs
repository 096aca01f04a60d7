//! The in-process scheduler and controllers against a real store, no kubelet: a hand-made Node
//! and a Deployment end in a ReplicaSet whose pods are bound to that node; scaling, Endpoints,
//! garbage collection; the secure port's bearer-token authentication.

mod common;

use std::time::Duration;

use common::{wait_for, ApiServer, Store};
use serde_json::{json, Value};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

fn items(api: &ApiServer, path: &str) -> Vec<Value> {
    let (code, v) = api.json("GET", path, JSON, "");
    assert_eq!(code, 200, "{path}: {v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn deployment_to_bound_pods_scale_endpoints_and_gc() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*", "--scheduler=true"]);
    let node = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"}},
        "status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
                  "conditions":[{"type":"Ready","status":"True"}]}});
    let (code, b) = api.json("POST", "/api/v1/nodes", JSON, &node.to_string());
    assert_eq!(code, 201, "{b}");
    let dep = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"c","image":"busybox","ports":[{"name":"http","containerPort":8080}]}]}}}});
    let (code, b) = api.json(
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        JSON,
        &dep.to_string(),
    );
    assert_eq!(code, 201, "{b}");

    let rs = wait_for(30, "a ReplicaSet", || {
        items(&api, "/apis/apps/v1/namespaces/default/replicasets")
            .into_iter()
            .next()
    });
    assert!(rs["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("web-")));
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    let pods = wait_for(30, "3 pods bound to n1", || {
        let p = items(&api, "/api/v1/namespaces/default/pods");
        (p.len() == 3 && p.iter().all(|p| p["spec"]["nodeName"] == "n1")).then_some(p)
    });
    assert!(pods
        .iter()
        .all(|p| p["metadata"]["labels"]["pod-template-hash"].is_string()));
    let events = items(&api, "/api/v1/namespaces/default/events");
    assert!(events.iter().any(|e| e["reason"] == "Scheduled"), "Scheduled events");

    // Scale down to 1.
    let (code, b) = api.json(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        MERGE,
        r#"{"spec":{"replicas":1}}"#,
    );
    assert_eq!(code, 200, "{b}");
    wait_for(30, "1 live pod", || {
        let p = items(&api, "/api/v1/namespaces/default/pods");
        let live = p
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count();
        (live == 1).then_some(())
    });
    // The controllers' events, as kube's controllers record them.
    let rs_name = items(&api, "/apis/apps/v1/namespaces/default/replicasets")[0]["metadata"]["name"]
        .as_str()
        .expect("rs name")
        .to_string();
    wait_for(30, "the controllers' events", || {
        let events = items(&api, "/api/v1/namespaces/default/events");
        let has = |reason: &str, kind: &str, prefix: &str| {
            events.iter().any(|e| {
                e["reason"] == reason
                    && e["involvedObject"]["kind"] == kind
                    && e["message"].as_str().is_some_and(|m| m.starts_with(prefix))
            })
        };
        (has(
            "ScalingReplicaSet",
            "Deployment",
            &format!("Scaled up replica set {rs_name} to 3"),
        ) && has(
            "ScalingReplicaSet",
            "Deployment",
            &format!("Scaled down replica set {rs_name} to 1"),
        ) && has("SuccessfulCreate", "ReplicaSet", &format!("Created pod: {rs_name}-"))
            && has("SuccessfulDelete", "ReplicaSet", &format!("Deleted pod: {rs_name}-")))
        .then_some(())
    });

    // A Service picks up the pod once it has an IP and is Ready.
    let svc = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
        "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":"http"}]}});
    let (code, b) = api.json("POST", "/api/v1/namespaces/default/services", JSON, &svc.to_string());
    assert_eq!(code, 201, "{b}");
    let pod = items(&api, "/api/v1/namespaces/default/pods")
        .into_iter()
        .find(|p| p["metadata"]["deletionTimestamp"].is_null())
        .expect("live pod");
    let name = pod["metadata"]["name"].as_str().expect("name").to_string();
    let status =
        json!({"status":{"phase":"Running","podIP":"10.88.1.5","conditions":[{"type":"Ready","status":"True"}]}});
    let (code, b) = api.json(
        "PATCH",
        &format!("/api/v1/namespaces/default/pods/{name}/status"),
        MERGE,
        &status.to_string(),
    );
    assert_eq!(code, 200, "{b}");
    wait_for(30, "Endpoints with the pod", || {
        let (code, ep) = api.json("GET", "/api/v1/namespaces/default/endpoints/web", JSON, "");
        (code == 200
            && ep["subsets"][0]["addresses"][0]["ip"] == "10.88.1.5"
            && ep["subsets"][0]["ports"][0]["port"] == 8080)
            .then_some(())
    });
    wait_for(30, "an EndpointSlice", || {
        let s = items(&api, "/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices");
        s.iter()
            .any(|s| {
                s["endpoints"][0]["addresses"][0] == "10.88.1.5" && s["endpoints"][0]["conditions"]["ready"] == true
            })
            .then_some(())
    });

    // Unschedulable pod: FailedScheduling with kube-scheduler's text.
    let big = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"big"},
        "spec":{"containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"64"}}}]}});
    let (code, b) = api.json("POST", "/api/v1/namespaces/default/pods", JSON, &big.to_string());
    assert_eq!(code, 201, "{b}");
    wait_for(30, "FailedScheduling", || {
        items(&api, "/api/v1/namespaces/default/events")
            .into_iter()
            .find(|e| e["reason"] == "FailedScheduling" && e["involvedObject"]["name"] == "big")
            .filter(|e| e["message"] == "0/1 nodes are available: 1 Insufficient cpu.")
    });

    // Deleting the Deployment garbage-collects its ReplicaSet and pods.
    let (code, b) = api.json("DELETE", "/apis/apps/v1/namespaces/default/deployments/web", JSON, "");
    assert_eq!(code, 200, "{b}");
    wait_for(30, "ReplicaSet and pods collected", || {
        let rs = items(&api, "/apis/apps/v1/namespaces/default/replicasets");
        let pods = items(&api, "/api/v1/namespaces/default/pods");
        // Bound pods wait for their (absent) kubelet: being deleted is enough.
        let gone = pods
            .iter()
            .all(|p| p["metadata"]["name"] == "big" || !p["metadata"]["deletionTimestamp"].is_null());
        (rs.is_empty() && gone).then_some(())
    });
}

#[test]
fn secure_port_requires_a_known_bearer_token() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIP: curl not installed");
        return;
    }
    let store = Store::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,admin,1,\"system:masters\"\n").expect("token file");
    let port = common::free_port().to_string();
    let cert_dir = dir.path().join("certs");
    let _api = ApiServer::start_with(
        &store.endpoint,
        &[
            "--secure-port",
            &port,
            "--bind-address",
            "127.0.0.1",
            "--cert-dir",
            cert_dir.to_str().expect("utf-8 path"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8 path"),
        ],
    );
    let curl = |token: Option<&str>| -> String {
        let mut c = std::process::Command::new("curl");
        c.args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"]);
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = c
            .arg(format!("https://127.0.0.1:{port}/api/v1/namespaces"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ok = wait_for(10, "secure port", || {
        let c = curl(Some("s3cret"));
        (c != "000").then_some(c)
    });
    assert_eq!(ok, "200");
    assert_eq!(curl(None), "401");
    assert_eq!(curl(Some("wrong")), "401");
    assert!(cert_dir.join("apiserver.crt").exists());
}

/// A Job runs its pods one at a time until two succeed (the test plays the kubelet by
/// setting pod phases), then is Complete; its pods are not garbage collected while it lives,
/// and go with it. A Job without restartPolicy is refused with Kubernetes' message.
#[test]
fn job_runs_to_completion() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*", "--scheduler=true"]);
    let bad = json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"bad"},
        "spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}});
    let (code, b) = api.json("POST", "/apis/batch/v1/namespaces/default/jobs", JSON, &bad.to_string());
    assert_eq!(code, 422, "{b}");
    assert!(
        b["message"].as_str().is_some_and(|m| m.contains(
            r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
        )),
        "{b}"
    );
    let job = json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},
        "spec":{"completions":2,"parallelism":1,"template":{"spec":{"restartPolicy":"Never",
            "containers":[{"name":"c","image":"busybox","command":["true"]}]}}}});
    let (code, created) = api.json("POST", "/apis/batch/v1/namespaces/default/jobs", JSON, &job.to_string());
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().expect("uid").to_string();
    assert_eq!(
        created["spec"]["selector"]["matchLabels"]["controller-uid"],
        uid.as_str()
    );
    assert_eq!(created["spec"]["backoffLimit"], 6);
    for round in 1..=2 {
        let pod = wait_for(30, "one active pod of the Job", || {
            let p: Vec<Value> = items(&api, "/api/v1/namespaces/default/pods")
                .into_iter()
                .filter(|p| p["status"]["phase"] != "Succeeded")
                .collect();
            (p.len() == 1).then(|| p[0].clone())
        });
        assert_eq!(pod["metadata"]["labels"]["job-name"], "pi");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
        let name = pod["metadata"]["name"].as_str().expect("name").to_string();
        let (code, b) = api.json(
            "PATCH",
            &format!("/api/v1/namespaces/default/pods/{name}/status"),
            MERGE,
            r#"{"status":{"phase":"Succeeded"}}"#,
        );
        assert_eq!(code, 200, "round {round}: {b}");
        if round == 1 {
            // The controller starts the second pod only after the first succeeded.
            wait_for(30, "the second pod", || {
                (items(&api, "/api/v1/namespaces/default/pods").len() == 2).then_some(())
            });
        }
    }
    let done = wait_for(30, "the Job Complete", || {
        let (_, j) = api.json("GET", "/apis/batch/v1/namespaces/default/jobs/pi", JSON, "");
        (j["status"]["conditions"][0]["type"] == "Complete").then_some(j)
    });
    assert_eq!(done["status"]["succeeded"], 2);
    assert!(done["status"]["completionTime"].is_string());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        items(&api, "/api/v1/namespaces/default/pods").len(),
        2,
        "no extra pods, none collected"
    );
    // As kubectl does: batch/v1 Jobs would orphan their pods without a policy.
    let (code, b) = api.json(
        "DELETE",
        "/apis/batch/v1/namespaces/default/jobs/pi",
        JSON,
        r#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#,
    );
    assert_eq!(code, 200, "{b}");
    wait_for(30, "the Job's pods collected", || {
        items(&api, "/api/v1/namespaces/default/pods")
            .iter()
            .all(|p| !p["metadata"]["deletionTimestamp"].is_null())
            .then_some(())
    });
}

/// A CronJob whose last run was long ago starts a Job for the newest due minute at once
/// (named `<cronjob>-<minutes since the epoch>`), lists it in `status.active` while it runs,
/// and takes it along when deleted.
#[test]
fn cronjob_starts_a_job_when_due() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*", "--scheduler=true"]);
    let cj = json!({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"tick"},
        "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never",
            "containers":[{"name":"c","image":"busybox","command":["date"]}]}}}}}});
    let (code, created) = api.json(
        "POST",
        "/apis/batch/v1/namespaces/default/cronjobs",
        JSON,
        &cj.to_string(),
    );
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().expect("uid").to_string();
    let (code, b) = api.json(
        "PATCH",
        "/apis/batch/v1/namespaces/default/cronjobs/tick/status",
        MERGE,
        r#"{"status":{"lastScheduleTime":"2020-01-01T00:00:00Z"}}"#,
    );
    assert_eq!(code, 200, "{b}");
    let job = wait_for(20, "a Job from the CronJob", || {
        items(&api, "/apis/batch/v1/namespaces/default/jobs").into_iter().next()
    });
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
    let name = job["metadata"]["name"].as_str().expect("name").to_string();
    let minutes: i64 = name
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .expect("tick-<minutes>");
    let now_minutes = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        / 60;
    assert!(
        (now_minutes - 1..=now_minutes).contains(&minutes),
        "{minutes} vs now {now_minutes}"
    );
    wait_for(20, "the Job in status.active", || {
        let (_, c) = api.json("GET", "/apis/batch/v1/namespaces/default/cronjobs/tick", JSON, "");
        (c["status"]["active"][0]["name"] == name.as_str() && c["status"]["lastScheduleTime"] != "2020-01-01T00:00:00Z")
            .then_some(())
    });
    // Passes keep coming (every second): the due minute is not run twice. (A minute
    // boundary during the test may add the next minute's Job.)
    std::thread::sleep(Duration::from_secs(2));
    let jobs = items(&api, "/apis/batch/v1/namespaces/default/jobs");
    assert!(jobs.len() <= 2, "one Job per due minute: {}", jobs.len());
    let (code, b) = api.json("DELETE", "/apis/batch/v1/namespaces/default/cronjobs/tick", JSON, "");
    assert_eq!(code, 200, "{b}");
    wait_for(30, "the Job collected with its CronJob", || {
        items(&api, "/apis/batch/v1/namespaces/default/jobs")
            .is_empty()
            .then_some(())
    });
}

/// A DaemonSet runs one pod on each node its selector picks (the scheduler binds it through
/// the pinning affinity), follows a node that starts to qualify, and leaves a tainted node
/// alone.
#[test]
fn daemonset_follows_the_nodes() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*", "--scheduler=true"]);
    let node = |name: &str, labels: Value, taints: Value| {
        json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"labels":labels},
            "spec":{"taints":taints},
            "status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
                      "conditions":[{"type":"Ready","status":"True"}]}})
    };
    for n in [
        node("a", json!({"role":"edge"}), json!([])),
        node("b", json!({}), json!([])),
        node(
            "c",
            json!({"role":"edge"}),
            json!([{"key":"dedicated","value":"db","effect":"NoSchedule"}]),
        ),
    ] {
        let (code, b) = api.json("POST", "/api/v1/nodes", JSON, &n.to_string());
        assert_eq!(code, 201, "{b}");
    }
    let ds = json!({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent"},
        "spec":{"selector":{"matchLabels":{"app":"agent"}},
            "template":{"metadata":{"labels":{"app":"agent"}},
                "spec":{"nodeSelector":{"role":"edge"},"containers":[{"name":"c","image":"busybox"}]}}}});
    let (code, b) = api.json(
        "POST",
        "/apis/apps/v1/namespaces/default/daemonsets",
        JSON,
        &ds.to_string(),
    );
    assert_eq!(code, 201, "{b}");
    let on_nodes = |want: usize| {
        wait_for(30, &format!("{want} daemon pod(s) bound"), || {
            let mut nodes: Vec<String> = items(&api, "/api/v1/namespaces/default/pods")
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .filter_map(|p| p["spec"]["nodeName"].as_str().map(String::from))
                .collect();
            nodes.sort();
            (nodes.len() == want).then_some(nodes)
        })
    };
    assert_eq!(on_nodes(1), vec!["a"]);
    let (code, b) = api.json(
        "PATCH",
        "/api/v1/nodes/b",
        MERGE,
        r#"{"metadata":{"labels":{"role":"edge"}}}"#,
    );
    assert_eq!(code, 200, "{b}");
    assert_eq!(on_nodes(2), vec!["a", "b"]);
    let st = wait_for(30, "DaemonSet status", || {
        let (_, d) = api.json("GET", "/apis/apps/v1/namespaces/default/daemonsets/agent", JSON, "");
        (d["status"]["desiredNumberScheduled"] == 2 && d["status"]["currentNumberScheduled"] == 2).then_some(d)
    });
    assert_eq!(st["status"]["numberMisscheduled"], 0);
}

/// A StatefulSet creates `db-0`, waits for it to be Running and Ready (the test plays the
/// kubelet), then `db-1`; each pod has its own claim and a stable hostname; scaling down
/// removes the highest ordinal and keeps the claims.
#[test]
fn statefulset_starts_pods_in_order() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*", "--scheduler=true"]);
    let node = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},
        "status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
                  "conditions":[{"type":"Ready","status":"True"}]}});
    assert_eq!(api.json("POST", "/api/v1/nodes", JSON, &node.to_string()).0, 201);
    let sts = json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},
        "spec":{"replicas":2,"serviceName":"db","selector":{"matchLabels":{"app":"db"}},
            "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
            "volumeClaimTemplates":[{"metadata":{"name":"data"},
                "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}});
    let (code, b) = api.json(
        "POST",
        "/apis/apps/v1/namespaces/default/statefulsets",
        JSON,
        &sts.to_string(),
    );
    assert_eq!(code, 201, "{b}");
    let names = |api: &ApiServer| -> Vec<String> {
        let mut n: Vec<String> = items(api, "/api/v1/namespaces/default/pods")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect();
        n.sort();
        n
    };
    let p0 = wait_for(30, "db-0", || {
        let (code, p) = api.json("GET", "/api/v1/namespaces/default/pods/db-0", JSON, "");
        (code == 200).then_some(p)
    });
    assert_eq!(p0["spec"]["hostname"], "db-0");
    assert_eq!(
        p0["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-db-0"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(names(&api), vec!["db-0"], "db-1 waits for db-0 to be ready");
    let ready = json!({"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}});
    let (code, b) = api.json(
        "PATCH",
        "/api/v1/namespaces/default/pods/db-0/status",
        MERGE,
        &ready.to_string(),
    );
    assert_eq!(code, 200, "{b}");
    wait_for(30, "db-1", || (names(&api) == ["db-0", "db-1"]).then_some(()));
    let claims: Vec<String> = items(&api, "/api/v1/namespaces/default/persistentvolumeclaims")
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(String::from))
        .collect();
    assert_eq!(claims.len(), 2, "{claims:?}");
    let (code, b) = api.json(
        "PATCH",
        "/api/v1/namespaces/default/pods/db-1/status",
        MERGE,
        &ready.to_string(),
    );
    assert_eq!(code, 200, "{b}");
    let (code, b) = api.json(
        "PATCH",
        "/apis/apps/v1/namespaces/default/statefulsets/db",
        MERGE,
        r#"{"spec":{"replicas":1}}"#,
    );
    assert_eq!(code, 200, "{b}");
    wait_for(30, "db-1 removed", || (names(&api) == ["db-0"]).then_some(()));
    assert_eq!(
        items(&api, "/api/v1/namespaces/default/persistentvolumeclaims").len(),
        2,
        "claims stay"
    );
}

/// TLS bootstrap as a kubelet does it, without a kubelet: a bootstrap token (a Secret in
/// kube-system) authenticates a CertificateSigningRequest for `system:node:n9`; the
/// controllers approve and sign it with the cluster CA; the issued certificate then
/// authenticates on the secure port (verified against --client-ca-file), while a wrong
/// token is refused with 401.
#[test]
fn kubelet_tls_bootstrap_through_a_csr() {
    use base64::Engine;
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIP: curl not installed");
        return;
    }
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name.push(rcgen::DnType::CommonName, "cluster-ca");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let (ca_crt, ca_key_file) = (dir.path().join("ca.crt"), dir.path().join("ca.key"));
    std::fs::write(&ca_crt, ca_cert.pem()).expect("write");
    std::fs::write(&ca_key_file, ca_key.serialize_pem()).expect("write");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,admin,1,\"system:masters\"\n").expect("token file");
    let port = common::free_port().to_string();
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    let store = Store::start();
    let cert_dir = dir.path().join("certs");
    let api = ApiServer::start_with(
        &store.endpoint,
        &[
            "--controllers=*",
            "--secure-port",
            &port,
            "--bind-address",
            "127.0.0.1",
            "--cert-dir",
            &path(&cert_dir),
            "--token-auth-file",
            &path(&tokens),
            "--client-ca-file",
            &path(&ca_crt),
            "--cluster-signing-cert-file",
            &path(&ca_crt),
            "--cluster-signing-key-file",
            &path(&ca_key_file),
            "--enable-bootstrap-token-auth",
        ],
    );
    let secret = json!({"apiVersion":"v1","kind":"Secret","type":"bootstrap.kubernetes.io/token",
        "metadata":{"name":"bootstrap-token-abcdef","namespace":"kube-system"},
        "data":{"token-id":b64(b"abcdef"),"token-secret":b64(b"0123456789abcdef"),
                "usage-bootstrap-authentication":b64(b"true"),"usage-bootstrap-signing":b64(b"true")}});
    let (code, b) = api.json(
        "POST",
        "/api/v1/namespaces/kube-system/secrets",
        JSON,
        &secret.to_string(),
    );
    assert_eq!(code, 201, "{b}");
    // The kubelet's request: its own key, subject O=system:nodes CN=system:node:n9.
    let node_key = rcgen::KeyPair::generate().expect("node key");
    let mut req = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    req.distinguished_name.push(rcgen::DnType::CommonName, "system:node:n9");
    req.distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    let csr_pem = req.serialize_request(&node_key).expect("csr").pem().expect("pem");
    let csr = json!({"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",
        "metadata":{"name":"node-csr-Ab_9-x"},
        "spec":{"request":b64(csr_pem.as_bytes()),"signerName":"kubernetes.io/kube-apiserver-client-kubelet",
                "usages":["digital signature","key encipherment","client auth"],"username":"forged"}});
    let base = format!("https://127.0.0.1:{port}");
    let curl = |args: &[&str]| -> (String, String) {
        let out = std::process::Command::new("curl")
            .args(["-sk", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        (code.to_string(), body.to_string())
    };
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer abcdef.0123456789abcdef",
        "-H",
        "Content-Type: application/json",
        "-d",
        &csr.to_string(),
        &format!("{base}/apis/certificates.k8s.io/v1/certificatesigningrequests"),
    ]);
    assert_eq!(code, "201", "{body}");
    let (code, _) = curl(&[
        "-H",
        "Authorization: Bearer abcdef.0123456789abcdeX",
        &format!("{base}/api/v1/nodes"),
    ]);
    assert_eq!(code, "401", "a wrong bootstrap token");
    let issued = wait_for(30, "the CSR signed", || {
        let (_, c) = api.json(
            "GET",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-Ab_9-x",
            JSON,
            "",
        );
        c["status"]["certificate"].as_str().map(|_| c.clone())
    });
    assert_eq!(
        issued["spec"]["username"], "system:bootstrap:abcdef",
        "the requester is the server's word"
    );
    assert_eq!(issued["status"]["conditions"][0]["type"], "Approved");
    let cert = base64::engine::general_purpose::STANDARD
        .decode(issued["status"]["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let (cert_file, key_file) = (dir.path().join("n9.crt"), dir.path().join("n9.key"));
    std::fs::write(&cert_file, cert).expect("write");
    std::fs::write(&key_file, node_key.serialize_pem()).expect("write");
    let (code, body) = curl(&[
        "--cert",
        &path(&cert_file),
        "--key",
        &path(&key_file),
        &format!("{base}/api/v1/nodes"),
    ]);
    assert_eq!(code, "200", "the issued certificate authenticates: {body}");
    let (code, _) = curl(&[&format!("{base}/api/v1/nodes")]);
    assert_eq!(code, "401", "no credentials at all");
}

/// kube's three deletion propagation policies through kubectl and the raw API: `--cascade=orphan`
/// leaves the ReplicaSet (without its ownerReference), `--cascade=foreground` returns only after
/// the pods are gone, a batch/v1 Job deleted without options orphans its pods (kube's
/// backward-compatible default), and contradictory options are refused with kube's message.
#[test]
fn deletion_propagation_orphan_foreground_and_defaults() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=*"]);
    let kubectl = common::Kubectl::new(&api.url);
    kubectl.ok(&["create", "deployment", "web", "--image=busybox", "--replicas=2"]);
    let pods = || items(&api, "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
    wait_for(30, "2 pods", || (pods().len() == 2).then_some(()));
    let rs_list = || items(&api, "/apis/apps/v1/namespaces/default/replicasets");

    // Orphan: the Deployment goes, its ReplicaSet stays and loses the ownerReference.
    kubectl.ok(&["delete", "deployment", "web", "--cascade=orphan"]);
    let (code, _) = api.get("/apis/apps/v1/namespaces/default/deployments/web");
    assert_eq!(code, 404, "kubectl waits until the orphaned owner is gone");
    let rs = rs_list();
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert!(
        rs[0]["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        rs[0]
    );
    assert_eq!(pods().len(), 2, "orphaning keeps the grandchildren too");

    // Foreground: the ReplicaSet is held (deletionTimestamp + finalizer) until its pods are gone.
    let rs_name = rs[0]["metadata"]["name"].as_str().expect("name").to_string();
    kubectl.ok(&[
        "delete",
        "replicaset",
        &rs_name,
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(
        pods().is_empty(),
        "foreground deletion returned before the pods were gone"
    );
    assert!(rs_list().is_empty());

    // A batch/v1 Job deleted with no options orphans its pods.
    let job = json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},
        "spec":{"parallelism":1,"completions":1,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}});
    let (code, b) = api.json("POST", "/apis/batch/v1/namespaces/default/jobs", JSON, &job.to_string());
    assert_eq!(code, 201, "{b}");
    let job_pods = || items(&api, "/api/v1/namespaces/default/pods?labelSelector=job-name%3Dj");
    wait_for(30, "the job's pod", || (job_pods().len() == 1).then_some(()));
    let (code, b) = api.json("DELETE", "/apis/batch/v1/namespaces/default/jobs/j", JSON, "");
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["metadata"]["finalizers"], json!(["orphan"]), "{b}");
    wait_for(30, "the orphaned job to go", || {
        (api.get("/apis/batch/v1/namespaces/default/jobs/j").0 == 404).then_some(())
    });
    let left = job_pods();
    assert_eq!(left.len(), 1, "the pod stays");
    assert!(
        left[0]["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        left[0]
    );

    // Contradictory and unknown options.
    let (code, b) = api.json(
        "DELETE",
        "/api/v1/namespaces/default/pods/x",
        JSON,
        r#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","orphanDependents":true}"#,
    );
    assert_eq!(code, 422, "{b}");
    assert_eq!(
        b["message"],
        r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Foreground": orphanDependents and deletionPropagation cannot be both set"#
    );
    let (code, b) = api.json(
        "DELETE",
        "/api/v1/namespaces/default/pods/x?propagationPolicy=Sideways",
        JSON,
        "",
    );
    assert_eq!(code, 422, "{b}");
    assert_eq!(
        b["message"],
        r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil""#
    );
}

/// Admission as kube-apiserver 1.20 runs it: LimitRanger defaults and bounds container
/// resources, ResourceQuota charges and refuses with kube's messages (and the resourcequota
/// controller releases what deleted pods held), Priority resolves classes (the system ones
/// exist from the start), DefaultTolerationSeconds adds the not-ready/unreachable tolerations.
#[test]
fn admission_limits_quota_priority_and_tolerations() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--controllers=resourcequota,replicaset"]);
    let kubectl = common::Kubectl::new(&api.url);
    kubectl.ok(&["create", "namespace", "q"]);
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: LimitRange\nmetadata: {name: lr, namespace: q}\n\
             spec:\n  limits:\n  - type: Container\n    default: {cpu: 200m}\n    defaultRequest: {cpu: 100m}\n    max: {cpu: '1'}\n\
             ---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: q}\n\
             spec:\n  hard: {pods: '2', requests.cpu: 300m}\n",
        ),
    );
    wait_for(30, "the quota's status", || {
        let (_, q) = api.json("GET", "/api/v1/namespaces/q/resourcequotas/q", JSON, "");
        (q["status"]["used"]["pods"] == "0").then_some(())
    });
    let pod = |name: &str, resources: Value, extra: Value| {
        let mut p = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name},
            "spec":{"containers":[{"name":"c","image":"busybox","resources":resources}]}});
        if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        api.json("POST", "/api/v1/namespaces/q/pods", JSON, &p.to_string())
    };
    let (code, a) = pod("a", json!({}), json!({}));
    assert_eq!(code, 201, "{a}");
    let c = &a["spec"]["containers"][0]["resources"];
    assert_eq!(c["requests"]["cpu"], "100m", "{a}");
    assert_eq!(c["limits"]["cpu"], "200m", "{a}");
    assert_eq!(
        a["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c"
    );
    assert_eq!(a["spec"]["priority"], 0);
    assert_eq!(a["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    let keys: Vec<&str> = a["spec"]["tolerations"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]);
    assert_eq!(a["spec"]["tolerations"][0]["tolerationSeconds"], 300);
    let (code, b) = pod("b", json!({}), json!({}));
    assert_eq!(code, 201, "{b}");
    let (code, c) = pod(
        "c",
        json!({"requests":{"cpu":"150m"},"limits":{"cpu":"150m"}}),
        json!({}),
    );
    assert_eq!(code, 403, "{c}");
    assert_eq!(c["reason"], "Forbidden");
    assert_eq!(
        c["message"],
        r#"pods "c" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=150m, used: pods=2,requests.cpu=200m, limited: pods=2,requests.cpu=300m"#
    );
    let (code, big) = pod("big", json!({"limits":{"cpu":"2"}}), json!({}));
    assert_eq!(code, 403, "{big}");
    assert_eq!(
        big["message"],
        r#"pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2"#
    );
    let (_, q) = api.json("GET", "/api/v1/namespaces/q/resourcequotas/q", JSON, "");
    assert_eq!(
        q["status"]["used"],
        json!({"pods":"2","requests.cpu":"200m"}),
        "refused pods charge nothing"
    );
    // Deleting a pod frees its share once the controller recounts.
    let (code, _) = api.json("DELETE", "/api/v1/namespaces/q/pods/a", JSON, "");
    assert_eq!(code, 200);
    wait_for(30, "the released quota", || {
        let (_, q) = api.json("GET", "/api/v1/namespaces/q/resourcequotas/q", JSON, "");
        (q["status"]["used"]["pods"] == "1").then_some(())
    });
    let (code, d) = pod(
        "d",
        json!({"requests":{"cpu":"150m"},"limits":{"cpu":"150m"}}),
        json!({}),
    );
    assert_eq!(code, 201, "{d}");
    // A ReplicaSet over quota: its controller records kube's FailedCreate event.
    let rs = json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"over"},
        "spec":{"replicas":1,"selector":{"matchLabels":{"app":"over"}},
            "template":{"metadata":{"labels":{"app":"over"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}});
    let (code, b) = api.json("POST", "/apis/apps/v1/namespaces/q/replicasets", JSON, &rs.to_string());
    assert_eq!(code, 201, "{b}");
    let failed = wait_for(30, "FailedCreate", || {
        items(&api, "/api/v1/namespaces/q/events")
            .into_iter()
            .find(|e| e["reason"] == "FailedCreate" && e["involvedObject"]["name"] == "over")
    });
    assert_eq!(failed["type"], "Warning");
    assert!(
        failed["message"].as_str().is_some_and(
            |m| m.starts_with(r#"Error creating: pods "over-" is forbidden: exceeded quota: q, requested: pods=1"#)
        ),
        "{failed}"
    );
    // Priority classes.
    let (code, p) = pod("p", json!({}), json!({"priorityClassName": "nope"}));
    assert_eq!(code, 403, "{p}");
    assert_eq!(
        p["message"],
        r#"pods "p" is forbidden: no PriorityClass with name nope was found"#
    );
    let (code, p) = api.json(
        "POST",
        "/api/v1/namespaces/default/pods",
        JSON,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"crit"},"spec":{"priorityClassName":"system-node-critical","containers":[{"name":"c","image":"busybox"}]}}"#,
    );
    assert_eq!(code, 201, "{p}");
    assert_eq!(p["spec"]["priority"], 2_000_001_000);
    let out = kubectl.ok(&["get", "priorityclasses"]);
    assert!(
        out.contains("system-cluster-critical") && out.contains("2000000000"),
        "{out}"
    );
}

/// A TLS 1.2 client that sends no signature_algorithms (busybox's built-in wget, as pods use
/// to reach the `kubernetes` Service) is served with an RSA serving certificate, as
/// kube-apiserver serves it; modern clients still get the usual handshake.
#[test]
fn legacy_tls_clients_reach_the_secure_port() {
    let have = |cmd: &str| std::process::Command::new(cmd).arg("--help").output().is_ok();
    let busybox = std::path::Path::new("/usr/bin/busybox");
    if !busybox.exists() || !have("openssl") || !have("curl") {
        eprintln!("SKIP: busybox, openssl or curl not installed");
        return;
    }
    let store = Store::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt, key) = (dir.path().join("rsa.crt"), dir.path().join("rsa.key"));
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=kubernetes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,admin,1,\"system:masters\"\n").expect("token file");
    let port = common::free_port().to_string();
    let _api = ApiServer::start_with(
        &store.endpoint,
        &[
            "--secure-port",
            &port,
            "--bind-address",
            "127.0.0.1",
            "--tls-cert-file",
            crt.to_str().expect("utf-8"),
            "--tls-private-key-file",
            key.to_str().expect("utf-8"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
        ],
    );
    let url = format!("https://127.0.0.1:{port}/version");
    // Without openssl on PATH busybox uses its own TLS 1.2 client (no signature_algorithms).
    let wget = |token: &str| {
        std::process::Command::new(busybox)
            .args(["wget", "-q", "-O", "-", "--no-check-certificate", "--header"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(&url)
            .env("PATH", "/nonexistent")
            .output()
            .expect("busybox wget")
    };
    let out = wait_for(10, "busybox wget", || {
        let o = wget("s3cret");
        o.status.success().then_some(o)
    });
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("gitVersion"), "{body}");
    // Authentication is the same on that path: a wrong token is refused.
    let bad = wget("wrong");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // A modern client (TLS 1.3 through rustls) on the same port.
    let curl = std::process::Command::new("curl")
        .args(["-sk", "--tlsv1.3", "-H", "Authorization: Bearer s3cret"])
        .arg(&url)
        .output()
        .expect("curl");
    assert!(String::from_utf8_lossy(&curl.stdout).contains("gitVersion"));
}

/// ServiceAccount tokens are kube's legacy JWTs: RS256 with a key id, issuer
/// `kubernetes/serviceaccount` and the namespace/Secret/ServiceAccount claims, signed with the
/// key given to `--service-account-key-file`; the secure port accepts them, refuses a tampered
/// one, and stops accepting one whose Secret is gone.
#[test]
fn service_account_tokens_are_signed_jwts() {
    use base64::Engine;
    let store = Store::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("sa.key");
    let st = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output();
    match st {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("SKIP: openssl not installed");
            return;
        }
    }
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,admin,1,\"system:masters\"\n").expect("token file");
    let port = common::free_port();
    let cert_dir = dir.path().join("certs");
    let api = ApiServer::start_with(
        &store.endpoint,
        &[
            "--controllers=serviceaccount-token",
            "--secure-port",
            &port.to_string(),
            "--bind-address",
            "127.0.0.1",
            "--cert-dir",
            cert_dir.to_str().expect("utf-8"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
            "--service-account-key-file",
            key.to_str().expect("utf-8"),
        ],
    );
    let secret = wait_for(30, "the default token Secret", || {
        items(&api, "/api/v1/namespaces/default/secrets")
            .into_iter()
            .find(|s| s["type"] == "kubernetes.io/service-account-token")
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    let token = String::from_utf8(
        b64.decode(secret["data"]["token"].as_str().expect("token"))
            .expect("b64"),
    )
    .expect("utf-8");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&url.decode(parts[0]).expect("header")).expect("json");
    let claims: Value = serde_json::from_slice(&url.decode(parts[1]).expect("claims")).expect("json");
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(claims["iss"], "kubernetes/serviceaccount");
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["kubernetes.io/serviceaccount/namespace"], "default");
    assert_eq!(
        claims["kubernetes.io/serviceaccount/secret.name"],
        secret["metadata"]["name"]
    );
    assert_eq!(claims["kubernetes.io/serviceaccount/service-account.name"], "default");
    let code = |t: &str| {
        common::Http::tls(port, t)
            .try_request("GET", "/api/v1/namespaces/default/pods", JSON, "")
            .map(|(c, _)| c)
            .unwrap_or(0)
    };
    wait_for(10, "the secure port", || (code("s3cret") == 200).then_some(()));
    assert_eq!(code(&token), 200, "the signed token authenticates");
    // Claims changed without a new signature.
    let forged_claims = claims
        .to_string()
        .replace("system:serviceaccount:default:default", "admin");
    let forged = format!("{}.{}.{}", parts[0], url.encode(forged_claims), parts[2]);
    assert_eq!(code(&forged), 401);
    // Its Secret deleted: the token no longer works (kube's lookup).
    let name = secret["metadata"]["name"].as_str().expect("name").to_string();
    let (c, _) = api.json(
        "DELETE",
        &format!("/api/v1/namespaces/default/secrets/{name}"),
        JSON,
        "",
    );
    assert_eq!(c, 200);
    assert_eq!(code(&token), 401);
}
