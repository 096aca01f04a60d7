//! Two apiserver processes on one store see each other's writes, and their
//! optimistic concurrency works across processes; etcd fail-over in the
//! endpoint list.

mod common;

use common::{free_port, ApiServer, Kubectl, Store};
use serde_json::json;

#[test]
fn second_apiserver_sees_first_apiservers_objects() {
    let store = Store::start();
    let a = ApiServer::start(&store.endpoint);
    // The second one lists a dead endpoint first: it must fail over.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let b = ApiServer::start(&format!("{dead},{}", store.endpoint));

    let ka = Kubectl::new(&a.url);
    let kb = Kubectl::new(&b.url);
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"shared"},"data":{"k":"v"}}"#;
    assert!(ka
        .ok_stdin(&["apply", "-f", "-"], Some(cm))
        .contains("configmap/shared created"));
    let got = kb.ok(&["get", "configmap", "shared", "-o", "jsonpath={.data.k}"]);
    assert_eq!(got, "v");

    // A write through B with A's resourceVersion after A changed it conflicts.
    let (_, obj) = a.json(
        "GET",
        "/api/v1/namespaces/default/configmaps/shared",
        "application/json",
        "",
    );
    let (code, _) = a.json(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/shared",
        "application/merge-patch+json",
        r#"{"data":{"k":"v2"}}"#,
    );
    assert_eq!(code, 200);
    let mut stale = obj.clone();
    stale["data"] = json!({"k": "from-b"});
    let (code, st) = b.json(
        "PUT",
        "/api/v1/namespaces/default/configmaps/shared",
        "application/json",
        &stale.to_string(),
    );
    assert_eq!((code, st["reason"].as_str()), (409, Some("Conflict")));
    assert_eq!(kb.ok(&["get", "configmap", "shared", "-o", "jsonpath={.data.k}"]), "v2");
}

/// An apiserver storing protobuf and one storing JSON read each other's objects.
#[test]
fn protobuf_and_json_apiservers_share_a_store() {
    let store = Store::start();
    let pb = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    let js = ApiServer::start(&store.endpoint);
    let kp = Kubectl::new(&pb.url);
    let kj = Kubectl::new(&js.url);
    kp.ok(&["create", "deployment", "from-pb", "--image=nginx:1.25", "--replicas=3"]);
    kj.ok(&[
        "create",
        "deployment",
        "from-json",
        "--image=nginx:1.25",
        "--replicas=0",
    ]);
    let got = kj.ok(&[
        "get",
        "deploy",
        "from-pb",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(got, "3 nginx:1.25");
    let got = kp.ok(&["get", "deploy", "from-json", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(got, "0");
    // Updates through the JSON server rewrite the value as JSON, and back.
    kj.ok(&["scale", "deploy", "from-pb", "--replicas=1"]);
    kp.ok(&["label", "deploy", "from-pb", "x=y"]);
    let got = kj.ok(&[
        "get",
        "deploy",
        "from-pb",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.labels.x} {.metadata.generation}",
    ]);
    assert_eq!(got, "1 y 2");
    let (code, list) = js.json(
        "GET",
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        "",
    );
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}
