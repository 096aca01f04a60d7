//! CRDs shared with a stock kube-apiserver v1.20.2 on one store: a CRD created through either
//! server is served by both (ours within seconds, through its CRD watch); custom resources
//! written through one are read through the other with the same uid, resourceVersion, defaults
//! and key; deleting a CRD through ours removes its custom resources for both.
//! Skipped when the stock binary is not cached (`shared/stock-k8s/build.sh kube-apiserver`).

mod common;

use std::time::{Duration, Instant};

use common::{etcd_kv, stock_kube_apiserver, ApiServer, Http, StockApiServer, Store};
use serde_json::{json, Value};

const JSON: &str = "application/json";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn crd(plural: &str, kind: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind, "shortNames": [format!("{plural}-s")]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "string"},
                        "replicas": {"type": "integer", "default": 2}}},
                    "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}}]}})
}

fn wait_served(http: &Http, path: &str, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _) = http.request("GET", path, JSON, "");
        if code == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{who} does not serve {path}: {code}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create(http: &Http, path: &str, obj: &Value, who: &str) -> Value {
    let (code, v) = http.json("POST", path, JSON, &obj.to_string());
    assert_eq!(code, 201, "{who} POST {path}: {v}");
    v
}

/// Create a custom resource through `writer`, read it through `reader`: the same object.
fn exchange(writer: &Http, reader: &Http, plural: &str, kind: &str, name: &str) {
    let coll = format!("/apis/example.com/v1/namespaces/default/{plural}");
    let obj = json!({"apiVersion": "example.com/v1", "kind": kind,
        "metadata": {"name": name}, "spec": {"size": "small", "junk": 1}});
    let created = create(writer, &coll, &obj, "writer");
    assert_eq!(
        created["spec"],
        json!({"size": "small", "replicas": 2}),
        "pruned and defaulted"
    );
    let (code, read) = reader.get_json(&format!("{coll}/{name}"));
    assert_eq!(code, 200, "{read}");
    for f in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        assert_eq!(read["metadata"][f], created["metadata"][f], "{f}");
    }
    assert_eq!(read["spec"], created["spec"]);
    // A status write through the reader; the writer sees it.
    let mut st = read.clone();
    st["status"] = json!({"ok": true});
    let (code, v) = reader.json("PUT", &format!("{coll}/{name}/status"), JSON, &st.to_string());
    assert_eq!(code, 200, "{v}");
    let (_, back) = writer.get_json(&format!("{coll}/{name}"));
    assert_eq!(back["status"], json!({"ok": true}));
    assert_eq!(back["metadata"]["resourceVersion"], v["metadata"]["resourceVersion"]);
}

#[test]
fn stock_kube_apiserver_and_ours_share_crds_and_custom_resources() {
    let Some(bin) = stock_kube_apiserver() else {
        eprintln!(
            "SKIP: no stock kube-apiserver v1.20.2 (run shared/stock-k8s/build.sh kube-apiserver, \
             or set APISERVER_TEST_STOCK_KUBE_APISERVER)"
        );
        return;
    };
    let store = Store::start();
    let stock = StockApiServer::start(&bin, &store.endpoint);
    let ours = ApiServer::start(&store.endpoint);

    // A CRD created through stock: ours serves it.
    create(&stock.http, CRDS, &crd("gizmos", "Gizmo"), "stock");
    let gizmos = "/apis/example.com/v1/namespaces/default/gizmos";
    wait_served(&stock.http, gizmos, "stock");
    let started = Instant::now();
    wait_served(&ours.http, gizmos, "ours");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    exchange(&stock.http, &ours.http, "gizmos", "Gizmo", "from-stock");
    exchange(&ours.http, &stock.http, "gizmos", "Gizmo", "from-ours");

    // A CRD created through ours: stock serves it; our status is the one stock expects.
    create(&ours.http, CRDS, &crd("widgets", "Widget"), "ours");
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    wait_served(&ours.http, widgets, "ours");
    wait_served(&stock.http, widgets, "stock");
    let (_, c) = stock.http.get_json(&format!("{CRDS}/widgets.example.com"));
    assert_eq!(c["status"]["acceptedNames"]["plural"], "widgets", "{c}");
    exchange(&stock.http, &ours.http, "widgets", "Widget", "from-stock");
    exchange(&ours.http, &stock.http, "widgets", "Widget", "from-ours");

    // Both wrote the same key layout and JSON.
    for key in [
        "/registry/example.com/widgets/default/from-stock",
        "/registry/example.com/widgets/default/from-ours",
    ] {
        let kv = etcd_kv(&store.endpoint, key).unwrap_or_else(|| panic!("{key} missing"));
        let v: Value = serde_json::from_slice(&kv.value).expect("JSON value");
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("example.com/v1"), Some("Widget"))
        );
    }

    // Deleting the stock-made CRD through ours: its custom resources go, neither serves it.
    let (code, v) = ours
        .http
        .json("DELETE", &format!("{CRDS}/gizmos.example.com"), JSON, "");
    assert_eq!(code, 200, "{v}");
    assert!(v["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "customresourcecleanup.apiextensions.k8s.io")));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let gone = |h: &Http| h.request("GET", &format!("{CRDS}/gizmos.example.com"), JSON, "").0 == 404;
        if gone(&ours.http) && gone(&stock.http) {
            break;
        }
        assert!(Instant::now() < deadline, "CRD not deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(etcd_kv(&store.endpoint, "/registry/example.com/gizmos/default/from-stock").is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while ours.http.request("GET", gizmos, JSON, "").0 != 404 || stock.http.request("GET", gizmos, JSON, "").0 != 404 {
        assert!(Instant::now() < deadline, "gizmos still served");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The other CRD is still served by both.
    assert_eq!(ours.http.request("GET", widgets, JSON, "").0, 200);
    assert_eq!(stock.http.request("GET", widgets, JSON, "").0, 200);
}
