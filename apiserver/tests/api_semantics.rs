//! API semantics over plain HTTP against apiserver on a real store:
//! Status errors, conflicts, namespace lifecycle, pagination tokens,
//! selectors, watch transitions, dry-run, generateName, finalizers, the
//! etcd key layout and 410 Gone after compaction.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{etcd_kv, ApiServer, Store};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::CompactionRequest;
use serde_json::{json, Value};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

fn pod(name: &str, labels: Value) -> String {
    json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"labels":labels},
           "spec":{"containers":[{"name":"c","image":"busybox"}]}})
    .to_string()
}

fn etcd_get(endpoint: &str, key: &str) -> Option<(Vec<u8>, i64)> {
    etcd_kv(endpoint, key).map(|kv| (kv.value, kv.mod_revision))
}

fn etcd_compact(endpoint: &str, rev: i64) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = KvClient::connect(endpoint.to_string()).await.expect("etcd connect");
        c.compact(CompactionRequest {
            revision: rev,
            physical: true,
        })
        .await
        .expect("compact");
    })
}

#[test]
fn crud_conflicts_and_status_objects() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let pods = "/api/v1/namespaces/default/pods";

    let (code, created) = api.json("POST", pods, JSON, &pod("a", json!({"app":"a"})));
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
    assert!(created["metadata"]["uid"].is_string());
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 30);

    // Stored as kube-apiserver does: JSON value, no resourceVersion, RV = mod_revision.
    let (value, mod_rev) = etcd_get(&store.endpoint, "/registry/pods/default/a").expect("key");
    assert_eq!(mod_rev.to_string(), rv);
    let stored: Value = serde_json::from_slice(&value).expect("stored JSON");
    assert!(stored["metadata"].get("resourceVersion").is_none());
    assert_eq!(stored["kind"], "Pod");

    let (code, st) = api.json("POST", pods, JSON, &pod("a", json!({})));
    assert_eq!(code, 409);
    assert_eq!(
        st,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message":"pods \"a\" already exists","reason":"AlreadyExists",
               "details":{"name":"a","kind":"pods"},"code":409})
    );

    // Update with the current RV works, a stale one is a Conflict.
    let mut upd = created.clone();
    upd["metadata"]["labels"]["v"] = json!("2");
    let (code, updated) = api.json("PUT", &format!("{pods}/a"), JSON, &upd.to_string());
    assert_eq!(code, 200, "{updated}");
    assert_ne!(updated["metadata"]["resourceVersion"].as_str(), Some(rv.as_str()));
    let (code, st) = api.json("PUT", &format!("{pods}/a"), JSON, &upd.to_string());
    assert_eq!(code, 409);
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on pods \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // Not found, unknown resource, invalid.
    let (code, st) = api.json("GET", &format!("{pods}/zzz"), JSON, "");
    assert_eq!((code, st["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = api.json("GET", "/api/v1/widgets", JSON, "");
    assert_eq!(code, 404);
    let (code, st) = api.json("POST", pods, JSON, &pod("Bad_Name", json!({})));
    assert_eq!(code, 422);
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");
    assert!(st["message"]
        .as_str()
        .expect("msg")
        .starts_with("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""));
    let (code, st) = api.json(
        "POST",
        pods,
        JSON,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nospec"}}"#,
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (422, Some("Pod \"nospec\" is invalid: spec.containers: Required value"))
    );
    let (code, _) = api.json("POST", pods, JSON, "{not json");
    assert_eq!(code, 400);

    // Missing namespace (NamespaceLifecycle).
    let (code, st) = api.json("POST", "/api/v1/namespaces/nope/pods", JSON, &pod("x", json!({})));
    assert_eq!(
        (code, st["message"].as_str()),
        (404, Some("namespaces \"nope\" not found"))
    );

    // dryRun=All does not persist; generateName fills a name.
    let (code, _) = api.json("POST", &format!("{pods}?dryRun=All"), JSON, &pod("dry", json!({})));
    assert_eq!(code, 201);
    assert_eq!(api.get(&format!("{pods}/dry")).0, 404);
    let gen = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}}).to_string();
    let (code, cm) = api.json("POST", "/api/v1/namespaces/default/configmaps", JSON, &gen);
    assert_eq!(code, 201);
    let name = cm["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // Finalizers block deletion until removed.
    let fin =
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","finalizers":["example.com/hold"]}});
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/configmaps", JSON, &fin.to_string())
            .0,
        201
    );
    let (code, del) = api.json("DELETE", "/api/v1/namespaces/default/configmaps/held", JSON, "");
    assert_eq!(code, 200);
    assert!(del["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(api.get("/api/v1/namespaces/default/configmaps/held").0, 200);
    let (code, _) = api.json(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/held",
        MERGE,
        r#"{"metadata":{"finalizers":null}}"#,
    );
    assert_eq!(code, 200);
    assert_eq!(api.get("/api/v1/namespaces/default/configmaps/held").0, 404);

    // Delete preconditions.
    let (code, st) = api.json(
        "DELETE",
        &format!("{pods}/a"),
        JSON,
        r#"{"preconditions":{"uid":"wrong"}}"#,
    );
    assert_eq!((code, st["reason"].as_str()), (409, Some("Conflict")));
    assert_eq!(api.json("DELETE", &format!("{pods}/a"), JSON, "").0, 200);
    assert_eq!(api.get(&format!("{pods}/a")).0, 404);
}

#[test]
fn namespace_lifecycle_and_key_layout() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            etcd_get(&store.endpoint, &format!("/registry/namespaces/{ns}")).is_some(),
            "{ns}"
        );
    }
    let node = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}).to_string();
    assert_eq!(api.json("POST", "/api/v1/nodes", JSON, &node).0, 201);
    assert!(etcd_get(&store.endpoint, "/registry/minions/n1").is_some());
    let svc =
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}).to_string();
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/services", JSON, &svc).0,
        201
    );
    assert!(etcd_get(&store.endpoint, "/registry/services/specs/default/s").is_some());
    let ep = json!({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"s"}}).to_string();
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/endpoints", JSON, &ep).0,
        201
    );
    assert!(etcd_get(&store.endpoint, "/registry/services/endpoints/default/s").is_some());
    let lease = json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1"},"spec":{"holderIdentity":"n1"}}).to_string();
    assert_eq!(
        api.json(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            JSON,
            &lease
        )
        .0,
        201
    );
    assert!(etcd_get(&store.endpoint, "/registry/leases/kube-node-lease/n1").is_some());

    // Events are written with a lease (--event-ttl).
    let ev = json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"n1.1"},
        "involvedObject":{"kind":"Node","name":"n1"},"reason":"Starting","type":"Normal","message":"hi"});
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/events", JSON, &ev.to_string())
            .0,
        201
    );
    let kv = etcd_kv(&store.endpoint, "/registry/events/default/n1.1").expect("event key");
    assert_ne!(kv.lease, 0, "event stored without a lease");
    let (_, evs) = api.json(
        "GET",
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DNode,involvedObject.name%3Dn1",
        JSON,
        "",
    );
    assert_eq!(evs["items"].as_array().map(Vec::len), Some(1));

    // A namespace held by a finalizer stays Terminating and refuses new content.
    let ns =
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"doomed","finalizers":["example.com/hold"]}})
            .to_string();
    assert_eq!(api.json("POST", "/api/v1/namespaces", JSON, &ns).0, 201);
    assert_eq!(
        api.json(
            "POST",
            "/api/v1/namespaces/doomed/configmaps",
            JSON,
            r#"{"metadata":{"name":"c"}}"#
        )
        .0,
        201
    );
    let (code, del) = api.json("DELETE", "/api/v1/namespaces/doomed", JSON, "");
    assert_eq!(code, 200);
    assert_eq!(del["status"]["phase"], "Terminating");
    let (code, st) = api.json("POST", "/api/v1/namespaces/doomed/pods", JSON, &pod("p", json!({})));
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "pods \"p\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    // Contents are removed, then the finalizer release deletes the namespace.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.get("/api/v1/namespaces/doomed/configmaps/c").0 != 404 {
        assert!(std::time::Instant::now() < deadline, "namespace contents not deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _) = api.json(
        "PATCH",
        "/api/v1/namespaces/doomed",
        MERGE,
        r#"{"metadata":{"finalizers":null}}"#,
    );
    assert_eq!(code, 200);
    // The namespace finalizer (spec.finalizers) may still be finishing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.get("/api/v1/namespaces/doomed").0 != 404 {
        assert!(std::time::Instant::now() < deadline, "namespace not deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pagination_selectors_watch_and_compaction() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let cms = "/api/v1/namespaces/default/configmaps";
    for i in 0..5 {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":format!("cm{i}"),"labels":{"i":i.to_string()}}});
        assert_eq!(api.json("POST", cms, JSON, &cm.to_string()).0, 201);
    }
    let (code, page) = api.json("GET", &format!("{cms}?limit=2"), JSON, "");
    assert_eq!(code, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["metadata"]["remainingItemCount"], 3);
    let token = page["metadata"]["continue"].as_str().expect("continue").to_string();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token)
        .expect("base64url");
    let t: Value = serde_json::from_slice(&raw).expect("token json");
    assert_eq!(t["v"], "meta.k8s.io/v1");
    assert_eq!(t["start"], "cm1\u{0}");
    let mut names = vec![];
    let mut next = Some(token.clone());
    names.extend(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].clone()),
    );
    while let Some(tok) = next {
        let (_, p) = api.json("GET", &format!("{cms}?limit=2&continue={tok}"), JSON, "");
        names.extend(
            p["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["metadata"]["name"].clone()),
        );
        next = p["metadata"]["continue"].as_str().map(String::from);
    }
    assert_eq!(names, vec!["cm0", "cm1", "cm2", "cm3", "cm4"]);

    // Selectors.
    let (_, l) = api.json("GET", &format!("{cms}?labelSelector=i%20in%20(1,3)"), JSON, "");
    assert_eq!(l["items"].as_array().map(Vec::len), Some(2));
    let (_, l) = api.json("GET", &format!("{cms}?fieldSelector=metadata.name%3Dcm4"), JSON, "");
    assert_eq!(l["items"][0]["metadata"]["name"], "cm4");
    let (code, st) = api.json("GET", &format!("{cms}?fieldSelector=spec.nodeName%3Dx"), JSON, "");
    assert_eq!(
        (code, st["message"].as_str()),
        (400, Some("field label not supported: spec.nodeName"))
    );

    // Watch from the list RV: pods bound to n1 appear as ADDED on a nodeName watch.
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/pods", JSON, &pod("w", json!({})))
            .0,
        201
    );
    let (_, list) = api.json("GET", "/api/v1/pods", JSON, "");
    let rv = list["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
    let port = api.port;
    let watch_all = format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=3");
    let watch_node =
        format!("/api/v1/pods?watch=true&resourceVersion={rv}&timeoutSeconds=3&fieldSelector=spec.nodeName%3Dn1");
    let h1 = std::thread::spawn({
        let api_url = watch_all.clone();
        move || common_get(port, &api_url)
    });
    let h2 = std::thread::spawn(move || common_get(port, &watch_node));
    std::thread::sleep(Duration::from_millis(500));
    let binding =
        json!({"apiVersion":"v1","kind":"Binding","metadata":{"name":"w"},"target":{"kind":"Node","name":"n1"}});
    let (code, b) = api.json(
        "POST",
        "/api/v1/namespaces/default/pods/w/binding",
        JSON,
        &binding.to_string(),
    );
    assert_eq!(code, 201, "{b}");
    let (code, st) = api.json(
        "POST",
        "/api/v1/namespaces/default/pods/w/binding",
        JSON,
        &binding.to_string(),
    );
    assert_eq!(
        (code, st["message"].as_str()),
        (
            409,
            Some("Operation cannot be fulfilled on pods \"w\": pod w is already assigned to node \"n1\"")
        )
    );
    assert_eq!(
        api.json(
            "DELETE",
            "/api/v1/namespaces/default/pods/w?gracePeriodSeconds=0",
            JSON,
            ""
        )
        .0,
        200
    );
    let all = h1.join().expect("watch thread");
    let node = h2.join().expect("watch thread");
    let types = |s: &str| -> Vec<String> {
        s.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["type"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(types(&all), vec!["MODIFIED", "DELETED"], "{all}");
    assert_eq!(types(&node), vec!["ADDED", "DELETED"], "{node}");

    // After compaction, old continue tokens and watch RVs are 410 Gone.
    let (_, cur) = api.json("GET", cms, JSON, "");
    let now: i64 = cur["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .parse()
        .expect("int");
    let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"later"}});
    assert_eq!(api.json("POST", cms, JSON, &cm.to_string()).0, 201);
    etcd_compact(&store.endpoint, now + 1);
    let (code, st) = api.json("GET", &format!("{cms}?limit=2&continue={token}"), JSON, "");
    assert_eq!((code, st["reason"].as_str()), (410, Some("Expired")));
    // Like kube-apiserver: 200, then an ERROR event carrying a 410 Expired Status.
    let (code, body) = api.request("GET", &format!("{cms}?watch=true&resourceVersion=2"), JSON, "");
    let ev: Value = serde_json::from_str(body.lines().next().unwrap_or("")).expect("watch event");
    assert_eq!((code, ev["type"].as_str()), (200, Some("ERROR")), "{body}");
    assert_eq!(
        (ev["object"]["code"].as_i64(), ev["object"]["reason"].as_str()),
        (Some(410), Some("Expired"))
    );
}

fn common_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    // Strip chunk-size lines: keep only JSON lines.
    raw.lines()
        .filter(|l| l.starts_with('{'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn watch_bookmarks_only_when_allowed() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--watch-bookmark-interval-seconds", "1"]);
    let (_, list) = api.json("GET", "/api/v1/namespaces", JSON, "");
    let rv = list["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
    let with = format!("/api/v1/namespaces?watch=true&resourceVersion={rv}&timeoutSeconds=3&allowWatchBookmarks=true");
    let (code, body) = api.request("GET", &with, JSON, "");
    assert_eq!(code, 200);
    let events: Vec<Value> = body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(events.len() >= 2, "{body}");
    for ev in &events {
        assert_eq!(ev["type"], "BOOKMARK");
        assert_eq!(ev["object"]["kind"], "Namespace");
        assert_eq!(ev["object"]["metadata"]["resourceVersion"], json!(rv));
    }
    let without = format!("/api/v1/namespaces?watch=true&resourceVersion={rv}&timeoutSeconds=2");
    let (code, body) = api.request("GET", &without, JSON, "");
    assert_eq!((code, body.trim()), (200, ""));
}

#[test]
fn protobuf_storage_writes_kube_apiserver_envelope() {
    let store = Store::start();
    let api = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    assert_eq!(
        api.json(
            "POST",
            "/api/v1/namespaces/default/pods",
            JSON,
            &pod("pb", json!({"app":"pb"}))
        )
        .0,
        201
    );
    let (value, _) = etcd_get(&store.endpoint, "/registry/pods/default/pb").expect("key");
    assert!(
        value.starts_with(b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod"),
        "{:?}",
        &value[..16.min(value.len())]
    );
    let (code, got) = api.json("GET", "/api/v1/namespaces/default/pods/pb", JSON, "");
    assert_eq!((code, got["metadata"]["labels"]["app"].as_str()), (200, Some("pb")));
    assert_eq!(got["spec"]["containers"][0]["image"], "busybox");
    // Namespaces created at start-up are protobuf too.
    let (ns, _) = etcd_get(&store.endpoint, "/registry/namespaces/default").expect("ns");
    assert!(ns.starts_with(b"k8s\x00"));
}

#[test]
fn hostile_input_gets_4xx_and_never_kills_the_server() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let pods = "/api/v1/namespaces/default/pods";
    let svcs = "/api/v1/namespaces/default/services";
    assert_eq!(api.json("POST", pods, JSON, &pod("victim", json!({}))).0, 201);
    let cases: &[(&str, String, &str, &str)] = &[
        ("POST", pods.to_string(), JSON, "[1,2,3]"),
        ("POST", pods.to_string(), JSON, r#"{"metadata":"x","spec":5}"#),
        (
            "POST",
            svcs.to_string(),
            JSON,
            r#"{"metadata":{"name":"s"},"spec":"nope"}"#,
        ),
        (
            "POST",
            svcs.to_string(),
            JSON,
            r#"{"metadata":{"name":"s"},"spec":{"ports":[{"port":"eighty"}]}}"#,
        ),
        (
            "POST",
            pods.to_string(),
            "application/vnd.kubernetes.protobuf",
            "k8s\u{0}\u{a}\u{ff}garbage",
        ),
        ("POST", pods.to_string(), "application/yaml", "a: [b"),
        ("POST", format!("{pods}/victim/binding"), JSON, r#"{"target":5}"#),
        ("PUT", format!("{pods}/victim"), JSON, "null"),
        ("PATCH", format!("{pods}/victim"), MERGE, r#"{"spec":"gone"}"#),
        ("PATCH", format!("{pods}/victim"), MERGE, "7"),
        (
            "PATCH",
            format!("{pods}/victim"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"containers":"x"}}"#,
        ),
        (
            "PATCH",
            format!("{pods}/victim"),
            "application/json-patch+json",
            r#"{"op":"add"}"#,
        ),
        ("PATCH", format!("{pods}/victim"), "text/plain", "hi"),
        ("PATCH", format!("{pods}/victim/status"), MERGE, r#"{"status":"weird"}"#),
        (
            "DELETE",
            format!("{pods}/victim?gracePeriodSeconds=9223372036854775807"),
            JSON,
            r#"{"preconditions":5}"#,
        ),
        ("GET", format!("{pods}?labelSelector=a%20in%20(b"), JSON, ""),
        ("GET", format!("{pods}?continue=%%%"), JSON, ""),
        (
            "GET",
            format!("{pods}?limit=-5&resourceVersion=abc&resourceVersionMatch=Exact"),
            JSON,
            "",
        ),
        ("GET", format!("{pods}?watch=true&resourceVersion=notanumber"), JSON, ""),
        ("GET", "/api/v1/namespaces/default/pods/..".to_string(), JSON, ""),
        (
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/x/scale/extra".to_string(),
            JSON,
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/victim/nosuchsub".to_string(),
            JSON,
            "",
        ),
        ("POST", "/healthz".to_string(), JSON, ""),
    ];
    for (method, path, ct, body) in cases {
        let (code, text) = api.request(method, path, ct, body);
        assert!((200..500).contains(&code), "{method} {path} {body} -> {code} {text}");
        if code >= 400 && !text.is_empty() && ct != &"text/plain" {
            if let Ok(status) = serde_json::from_str::<Value>(&text) {
                assert_eq!(status["kind"], "Status", "{method} {path}: {text}");
            }
        }
        assert_eq!(
            api.get("/healthz"),
            (200, "ok".to_string()),
            "server died after {method} {path}"
        );
    }
}

/// An unpaged list larger than gRPC's default 4 MiB message (here 6 ConfigMaps of ~0.9 MiB)
/// is served, as kube-apiserver serves a 10k-pod list.
#[test]
fn lists_larger_than_four_mebibytes() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let big = "x".repeat(900 * 1024);
    for i in 0..6 {
        let cm =
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":format!("big-{i}")},"data":{"blob":big}});
        let (code, b) = api.json("POST", "/api/v1/namespaces/default/configmaps", JSON, &cm.to_string());
        assert_eq!(code, 201, "{}", &b.to_string()[..b.to_string().len().min(300)]);
    }
    let (code, list) = api.json("GET", "/api/v1/namespaces/default/configmaps", JSON, "");
    assert_eq!(code, 200, "{}", &list.to_string()[..list.to_string().len().min(300)]);
    let items = list["items"].as_array().map(Vec::len).unwrap_or(0);
    assert!(items >= 6, "{items} items");
}
