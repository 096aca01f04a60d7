//! A stock kube-apiserver v1.20.2 and this apiserver on one store: what either writes the other
//! gets (same uid, resourceVersion and fields), lists (limit/continue, tokens of either server),
//! updates (409 for a stale resourceVersion through either), watches and deletes.
//! Skipped when the stock binary is not cached (`shared/stock-k8s/build.sh kube-apiserver`).

mod common;

use common::{stock_kube_apiserver, ApiServer, Http, Kubectl, StockApiServer, Store, Watch};
use serde_json::{json, Value};

const JSON: &str = "application/json";

/// One API server in a role: its HTTP client and kubectl.
struct Server {
    name: &'static str,
    /// The stock kube-apiserver (rather than ours).
    stock: bool,
    http: Http,
    kubectl: Kubectl,
}

impl Server {
    fn get(&self, path: &str) -> Value {
        let (code, v) = self.http.get_json(path);
        assert_eq!(code, 200, "{} GET {path}: {v}", self.name);
        v
    }

    fn put(&self, path: &str, obj: &Value) -> (u16, Value) {
        self.http.json("PUT", path, JSON, &obj.to_string())
    }
}

#[test]
fn stock_kube_apiserver_and_ours_share_objects_both_ways() {
    let Some(bin) = stock_kube_apiserver() else {
        eprintln!(
            "SKIP: no stock kube-apiserver v1.20.2 (run shared/stock-k8s/build.sh kube-apiserver, \
             or set APISERVER_TEST_STOCK_KUBE_APISERVER)"
        );
        return;
    };
    let store = Store::start();
    let stock = StockApiServer::start(&bin, &store.endpoint);
    // kube-apiserver's own storage format: the k8s\0 protobuf envelope.
    let ours_pb = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    // This apiserver's default: JSON values.
    let ours_json = ApiServer::start(&store.endpoint);

    let s = Server {
        name: "stock",
        stock: true,
        http: stock.http.clone(),
        kubectl: stock.kubectl(),
    };
    let pb = Server {
        name: "ours (protobuf)",
        stock: false,
        http: ours_pb.http.clone(),
        kubectl: Kubectl::new(&ours_pb.url),
    };
    let js = Server {
        name: "ours (json)",
        stock: false,
        http: ours_json.http.clone(),
        kubectl: Kubectl::new(&ours_json.url),
    };

    // The system namespaces each server bootstraps are one set of objects.
    let names = |srv: &Server| {
        let list = srv.get("/api/v1/namespaces");
        let mut v: Vec<(String, String)> = items(&list)
            .iter()
            .map(|n| {
                (
                    name(n).to_string(),
                    n["metadata"]["uid"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let system = names(&s);
    assert!(system.iter().any(|(n, _)| n == "kube-system"), "{system:?}");
    assert_eq!(names(&pb), system);

    exchange(&s, &pb, "from-stock");
    exchange(&pb, &s, "from-ours-pb");
    exchange(&s, &js, "from-stock-2");
    exchange(&js, &s, "from-ours-json");
}

/// ClusterIPs and NodePorts allocated by a stock kube-apiserver and by ours on one store come
/// from the same bitmaps: interleaved creates never share an address or port.
#[test]
fn stock_and_ours_never_hand_out_the_same_cluster_ip() {
    let Some(bin) = stock_kube_apiserver() else {
        eprintln!("SKIP: no stock kube-apiserver v1.20.2");
        return;
    };
    let store = Store::start();
    let stock = StockApiServer::start(&bin, &store.endpoint);
    let ours_pb = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    let ours_json = ApiServer::start(&store.endpoint);
    let mut ips = std::collections::HashSet::new();
    let mut ports = std::collections::HashSet::new();
    for i in 0..12 {
        let body = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":format!("s{i}")},
            "spec":{"type":"NodePort","ports":[{"port":80}]}})
        .to_string();
        let path = "/api/v1/namespaces/default/services";
        let (code, b) = match i % 3 {
            0 => stock.http.json("POST", path, "application/json", &body),
            1 => ours_pb.json("POST", path, "application/json", &body),
            _ => ours_json.json("POST", path, "application/json", &body),
        };
        assert_eq!(code, 201, "service {i}: {b}");
        let ip = b["spec"]["clusterIP"].as_str().expect("clusterIP").to_string();
        assert!(ips.insert(ip.clone()), "{ip} handed out twice (service {i})");
        let port = b["spec"]["ports"][0]["nodePort"].as_u64().expect("nodePort");
        assert!(ports.insert(port), "nodePort {port} handed out twice (service {i})");
    }
    // Stock refuses an address ours handed out, with its own message.
    let taken = ips.iter().next().cloned().expect("an ip");
    let body = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"dup"},
        "spec":{"clusterIP": taken, "ports":[{"port":80}]}})
    .to_string();
    let (code, b) = stock
        .http
        .json("POST", "/api/v1/namespaces/default/services", "application/json", &body);
    assert_eq!(code, 422, "{b}");
    let (code2, b2) = ours_pb.json("POST", "/api/v1/namespaces/default/services", "application/json", &body);
    assert_eq!(code2, 422, "{b2}");
    assert_eq!(b["message"], b2["message"], "same message from both servers");
}

/// The objects each exchange creates: (API path of the collection, name), in creation order.
fn objects(ns: &str) -> Vec<(String, String)> {
    [
        ("/api/v1/namespaces".to_string(), ns),
        (format!("/api/v1/namespaces/{ns}/configmaps"), "cm"),
        (format!("/api/v1/namespaces/{ns}/secrets"), "secret"),
        (format!("/api/v1/namespaces/{ns}/pods"), "pod"),
        (format!("/apis/apps/v1/namespaces/{ns}/deployments"), "deploy"),
        (format!("/api/v1/namespaces/{ns}/services"), "svc"),
    ]
    .into_iter()
    .map(|(c, n)| (c, n.to_string()))
    .collect()
}

fn manifests(ns: &str, writer: &str) -> Value {
    let labels = json!({"app": "interop", "written-by": writer.replace(['(', ')', ' '], "")});
    json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns, "labels": labels},
         "data": {"k": "v", "multi": "line one\nline two"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret", "namespace": ns, "labels": labels},
         "type": "Opaque", "data": {"password": "czNjcjN0"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod", "namespace": ns, "labels": labels,
                                                        "annotations": {"note": "interop"}},
         "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                  "ports": [{"containerPort": 8080, "name": "http"}],
                                  "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                                  "env": [{"name": "A", "value": "1"}]}],
                  "terminationGracePeriodSeconds": 5}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy", "namespace": ns, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "interop"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                  "template": {"metadata": {"labels": {"app": "interop"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": ns, "labels": labels},
         "spec": {"selector": {"app": "interop"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    ]})
}

/// Objects created through `w` are read, listed, updated, watched and deleted through `r`
/// (and `w` sees what `r` did), in namespace `ns`.
fn exchange(w: &Server, r: &Server, ns: &str) {
    let ctx = format!("[{ns}: written by {}, read by {}]", w.name, r.name);
    // A resourceVersion from before anything in `ns` exists, for the watches.
    let rv0 = w.get("/api/v1/namespaces?limit=1")["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string();
    let watch = |srv: &Server, res: &str| -> Watch {
        let path = format!("/api/v1/namespaces/{ns}/{res}?watch=1&resourceVersion={rv0}");
        srv.http.watch(&path)
    };
    let watches = [
        (w.name, "configmaps", watch(w, "configmaps")),
        (r.name, "configmaps", watch(r, "configmaps")),
        (w.name, "pods", watch(w, "pods")),
        (r.name, "pods", watch(r, "pods")),
    ];

    // 1. Create through W with kubectl.
    let out = w.kubectl.ok_stdin(
        &["create", "-f", "-", "-o", "json"],
        Some(&manifests(ns, w.name).to_string()),
    );
    // One JSON document per object.
    let created: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{ctx} kubectl output: {e}: {out}"));
    assert_eq!(created.len(), objects(ns).len(), "{ctx} created {created:?}");
    for i in 0..5 {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":format!("page-{i}")},"data":{"i":i.to_string()}});
        let (code, v) = w.http.json(
            "POST",
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            JSON,
            &cm.to_string(),
        );
        assert_eq!(code, 201, "{ctx} create page-{i}: {v}");
    }

    // 2. R gets each object as W has it: same uid and resourceVersion, same fields.
    for ((coll, n), made) in objects(ns).iter().zip(&created) {
        let path = format!("{coll}/{n}");
        assert_eq!(name(made), n, "{ctx} kubectl create order");
        let (from_w, from_r) = (w.get(&path), r.get(&path));
        for field in ["uid", "resourceVersion", "creationTimestamp"] {
            assert_eq!(
                from_r["metadata"][field], made["metadata"][field],
                "{ctx} {path} {field}"
            );
            assert!(!from_r["metadata"][field].is_null(), "{ctx} {path} has no {field}");
        }
        assert_same(&ctx, &path, &from_w, &from_r);
    }
    let cm = r.get(&format!("/api/v1/namespaces/{ns}/configmaps/cm"));
    assert_eq!(cm["data"], json!({"k": "v", "multi": "line one\nline two"}), "{ctx}");
    let secret = r.get(&format!("/api/v1/namespaces/{ns}/secrets/secret"));
    assert_eq!(
        (&secret["data"]["password"], &secret["type"]),
        (&json!("czNjcjN0"), &json!("Opaque")),
        "{ctx}"
    );
    let pod = r.get(&format!("/api/v1/namespaces/{ns}/pods/pod"));
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        (
            &c["image"],
            &c["ports"][0]["containerPort"],
            &c["resources"]["requests"]["cpu"]
        ),
        (&json!("busybox:1.36"), &json!(8080), &json!("100m")),
        "{ctx}"
    );
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], json!(5), "{ctx}");
    let deploy = r.get(&format!("/apis/apps/v1/namespaces/{ns}/deployments/deploy"));
    assert_eq!(deploy["spec"]["replicas"], json!(2), "{ctx}");
    assert_eq!(
        deploy["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": 1}),
        "{ctx}"
    );
    assert_eq!(deploy["metadata"]["generation"], json!(1), "{ctx}");
    let svc = r.get(&format!("/api/v1/namespaces/{ns}/services/svc"));
    let ip = svc["spec"]["clusterIP"].as_str().unwrap_or("");
    assert!(ip.starts_with("10."), "{ctx} clusterIP {ip:?}");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], json!(8080), "{ctx}");
    let got = r
        .kubectl
        .ok(&["get", "-n", ns, "deploy", "deploy", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(got, "2", "{ctx} kubectl through {}", r.name);

    // 3. Lists: the same items through both; pages of 2 with continue tokens from either.
    for (coll, _) in objects(ns) {
        let (lw, lr) = (w.get(&coll), r.get(&coll));
        assert_eq!(uid_rv(&lw), uid_rv(&lr), "{ctx} LIST {coll}");
        assert!(!uid_rv(&lr).is_empty(), "{ctx} LIST {coll} is empty");
    }
    let cms = format!("/api/v1/namespaces/{ns}/configmaps");
    let all = uid_rv(&r.get(&cms));
    assert_eq!(all.len(), 6, "{ctx} {all:?}");
    for (first, rest) in [(r, r), (w, r), (r, w)] {
        let mut seen = Vec::new();
        let mut pages_read = 0;
        let mut page = first.get(&format!("{cms}?limit=2"));
        loop {
            pages_read += 1;
            seen.extend(uid_rv(&page));
            let token = page["metadata"]["continue"].as_str().unwrap_or("").to_string();
            if token.is_empty() {
                break;
            }
            assert_eq!(
                page["metadata"]["remainingItemCount"],
                json!(all.len() - seen.len()),
                "{ctx} {}",
                first.name
            );
            page = rest.get(&format!("{cms}?limit=2&continue={token}"));
        }
        assert_eq!(
            pages_read, 3,
            "{ctx} first page from {}, rest from {}",
            first.name, rest.name
        );
        assert_eq!(
            seen, all,
            "{ctx} first page from {}, rest from {}",
            first.name, rest.name
        );
    }
    let chunked = r
        .kubectl
        .ok(&["get", "-n", ns, "configmaps", "--chunk-size=2", "-o", "name"]);
    assert_eq!(chunked.lines().count(), 6, "{ctx} kubectl --chunk-size=2: {chunked}");

    // 4. Updates through R with the resourceVersion R read; W sees them; a stale
    //    resourceVersion conflicts through either; then W updates what R wrote.
    let mut rv_after = std::collections::HashMap::new();
    for (coll, n) in objects(ns) {
        let path = format!("{coll}/{n}");
        let before = r.get(&path);
        let mut obj = before.clone();
        obj["metadata"]["labels"]["updated-by"] = json!("r");
        match n.as_str() {
            "cm" => obj["data"]["k"] = json!("v2"),
            "secret" => obj["data"]["password"] = json!("bmV3"),
            "deploy" => obj["spec"]["replicas"] = json!(3),
            "pod" => obj["spec"]["containers"][0]["image"] = json!("busybox:1.37"),
            _ => {}
        }
        let (code, updated) = r.put(&path, &obj);
        assert_eq!(code, 200, "{ctx} PUT {path} through {}: {updated}", r.name);
        let new_rv = rv(&updated);
        assert!(new_rv > rv(&before), "{ctx} {path}: {} !> {}", new_rv, rv(&before));
        let seen = w.get(&path);
        assert_eq!(seen["metadata"]["uid"], before["metadata"]["uid"], "{ctx} {path}");
        assert_eq!(rv(&seen), new_rv, "{ctx} {path} through {}", w.name);
        assert_eq!(seen["metadata"]["labels"]["updated-by"], json!("r"), "{ctx} {path}");
        assert_same(&ctx, &path, &seen, &r.get(&path));
        for (srv, what) in [(w, "writer"), (r, "reader")] {
            let (code, st) = srv.put(&path, &obj);
            assert_eq!(
                (code, st["reason"].as_str()),
                (409, Some("Conflict")),
                "{ctx} stale PUT {path} through the {what} {}: {st}",
                srv.name
            );
        }
        let mut again = seen.clone();
        again["metadata"]["labels"]["updated-again-by"] = json!("w");
        let (code, v) = w.put(&path, &again);
        assert_eq!(code, 200, "{ctx} PUT {path} through {}: {v}", w.name);
        let back = r.get(&path);
        assert_eq!(rv(&back), rv(&v), "{ctx} {path}");
        assert_eq!(
            back["metadata"]["labels"]["updated-again-by"],
            json!("w"),
            "{ctx} {path}"
        );
        rv_after.insert(n, (new_rv, rv(&v)));
    }
    assert_eq!(r.get(&format!("{cms}/cm"))["data"]["k"], json!("v2"), "{ctx}");
    let deploy = w.get(&format!("/apis/apps/v1/namespaces/{ns}/deployments/deploy"));
    assert_eq!(
        (&deploy["spec"]["replicas"], &deploy["metadata"]["generation"]),
        (&json!(3), &json!(2)),
        "{ctx} spec change bumps generation once"
    );

    // 5. Deletes through R: gone through both (404), and W deletes one page through its side.
    for (coll, n) in objects(ns).iter().skip(1) {
        let path = format!("{coll}/{n}");
        let (code, v) = r.http.json("DELETE", &path, JSON, "");
        assert_eq!(code, 200, "{ctx} DELETE {path} through {}: {v}", r.name);
        for srv in [w, r] {
            let (code, v) = srv.http.get_json(&path);
            assert_eq!(code, 404, "{ctx} GET {path} through {} after delete: {v}", srv.name);
        }
    }
    let (code, v) = w.http.json("DELETE", &format!("{cms}/page-0"), JSON, "");
    assert_eq!(code, 200, "{ctx} {v}");
    let (code, _) = r.http.get_json(&format!("{cms}/page-0"));
    assert_eq!(code, 404, "{ctx} page-0 through {}", r.name);

    // 6. Every watch, on either server, saw the whole history of cm and pod in order:
    //    ADDED (W's create), MODIFIED (R's update), MODIFIED (W's update), DELETED (R).
    //    kube-apiserver deletes even an unscheduled pod in two writes (deletionTimestamp with
    //    grace 0, then the delete): one more MODIFIED when R is the stock server.
    //    Both servers' watches carry the same objects.
    let mut history: std::collections::HashMap<&str, Vec<Value>> = Default::default();
    for (srv, res, watch) in &watches {
        let obj = if *res == "configmaps" { "cm" } else { "pod" };
        let events = watch.collect_until(30, |evs| {
            evs.iter().any(|e| e["type"] == "DELETED" && name(&e["object"]) == obj)
        });
        let mut mine: Vec<(String, u64)> = Vec::new();
        for e in events.iter().filter(|e| name(&e["object"]) == obj) {
            let graceful = e["type"] == "MODIFIED" && !e["object"]["metadata"]["deletionTimestamp"].is_null();
            if graceful && obj == "pod" && r.stock {
                continue;
            }
            mine.push((e["type"].as_str().unwrap_or("").to_string(), rv(&e["object"])));
            if mine.len() <= 3 {
                history.entry(*res).or_default().push(e["object"].clone());
            }
        }
        let made = created.iter().find(|c| name(c) == obj).expect("created object");
        let (r_rv, w_rv) = rv_after[&obj.to_string()];
        let types: Vec<&str> = mine.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            ["ADDED", "MODIFIED", "MODIFIED", "DELETED"],
            "{ctx} watch {res} on {srv}: {events:?}"
        );
        assert_eq!(
            mine[..3].iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            [rv(made), r_rv, w_rv],
            "{ctx} watch {res} on {srv}"
        );
        assert!(mine[3].1 > w_rv, "{ctx} watch {res} on {srv}: DELETED at {}", mine[3].1);
        for e in events.iter().filter(|e| name(&e["object"]) == obj) {
            assert_eq!(e["object"]["metadata"]["uid"], made["metadata"]["uid"], "{ctx} {e}");
        }
        if *res == "configmaps" {
            let added: Vec<&str> = events
                .iter()
                .filter(|e| e["type"] == "ADDED")
                .map(|e| name(&e["object"]))
                .collect();
            assert_eq!(
                added,
                ["cm", "page-0", "page-1", "page-2", "page-3", "page-4"],
                "{ctx} watch on {srv}"
            );
        }
    }

    for (res, objs) in &history {
        assert_eq!(objs.len(), 6, "{ctx} {res}: three events from each server");
        for (a, b) in objs[..3].iter().zip(&objs[3..]) {
            assert_same(&ctx, &format!("watch {res}"), a, b);
        }
    }

    // 7. Deleting the namespace through R. The stock server only marks it Terminating (its
    //    namespace controller, which is not running, would empty it and drop the `kubernetes`
    //    finalizer); ours does that finalization inline. Either way W sees the same outcome.
    let path = format!("/api/v1/namespaces/{ns}");
    let (code, v) = r.http.json("DELETE", &path, JSON, "");
    assert_eq!(code, 200, "{ctx} DELETE {path} through {}: {v}", r.name);
    if r.stock {
        let (from_w, from_r) = (w.get(&path), r.get(&path));
        assert_eq!(from_w["status"]["phase"], json!("Terminating"), "{ctx} {from_w}");
        assert_eq!(from_w["spec"]["finalizers"], json!(["kubernetes"]), "{ctx} {from_w}");
        assert!(!from_w["metadata"]["deletionTimestamp"].is_null(), "{ctx} {from_w}");
        assert_same(&ctx, &path, &from_w, &from_r);
    } else {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = items(&w.get(&cms)).len();
            let (code, _) = w.http.get_json(&path);
            if left == 0 && code == 404 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{ctx} {} still has namespace {ns} ({code}) or {left} configmaps",
                w.name
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// Both servers' views of one object agree, up to what legitimately differs.
fn assert_same(ctx: &str, path: &str, a: &Value, b: &Value) {
    let (a, b) = (normalize(a), normalize(b));
    if a != b {
        panic!(
            "{ctx} {path} differs between the servers:\n{}\n---\n{}",
            serde_json::to_string_pretty(&a).unwrap_or_default(),
            serde_json::to_string_pretty(&b).unwrap_or_default()
        );
    }
}

/// Drop what two correct servers may print differently: JSON nulls (a zero metav1.Time
/// such as a pod template's `creationTimestamp` prints as null from Go and is absent from
/// us; both decode to the same object), and fields kube-apiserver 1.20 does not know and
/// therefore drops on read (`spec.internalTrafficPolicy`, 1.21+, which we default).
fn normalize(v: &Value) -> Value {
    let mut v = strip_nulls(v);
    if v["kind"] == "Service" {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("internalTrafficPolicy");
        }
    }
    v
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// (name, uid, resourceVersion) of a list's items, in order.
fn uid_rv(list: &Value) -> Vec<(String, String, u64)> {
    items(list)
        .iter()
        .map(|o| {
            let uid = o["metadata"]["uid"].as_str().unwrap_or("").to_string();
            (name(o).to_string(), uid, rv(o))
        })
        .collect()
}
