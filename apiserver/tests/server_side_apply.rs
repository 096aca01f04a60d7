//! Server-side apply and managedFields with stock kubectl 1.32 and raw HTTP (etcd or `kv`,
//! see `common`): create records a `kubectl-create` Update entry, `kubectl label` its own,
//! `kubectl apply --server-side` is idempotent (no new resourceVersion), prunes fields it no
//! longer applies, conflicts after another manager's change with kube's 409 (message and
//! `FieldManagerConflict` causes) unless `--force-conflicts`, shares fields between appliers,
//! creates objects, needs a fieldManager (422), works for custom resources and dry-run, and
//! all of it with JSON and protobuf storage. kubectl hides managedFields unless
//! `--show-managed-fields`; client-side `kubectl apply` keeps working.

mod common;

use common::{ApiServer, Kubectl, Store};
use serde_json::{json, Value};

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.19
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: string}
              color: {type: string}
              tags: {type: object, additionalProperties: {type: string}}
"#;

fn managed(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"].as_array().cloned().unwrap_or_default()
}

fn entry(obj: &Value, manager: &str, op: &str) -> Value {
    managed(obj)
        .into_iter()
        .find(|e| e["manager"] == manager && e["operation"] == op)
        .unwrap_or(Value::Null)
}

fn get(api: &ApiServer, path: &str) -> Value {
    let (code, v) = api.json("GET", path, "application/json", "");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string()
}

const DEP_PATH: &str = "/apis/apps/v1/namespaces/default/deployments/web";

fn flow(extra: &[&str]) {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, extra);
    let k = Kubectl::new(&api.url);

    // kubectl create: one Update entry by "kubectl-create", defaulted fields included.
    k.ok_stdin(&["create", "-f", "-"], Some(DEPLOY));
    let d = get(&api, DEP_PATH);
    let created = entry(&d, "kubectl-create", "Update");
    assert_eq!(created["apiVersion"], "apps/v1", "{d}");
    assert_eq!(created["fieldsType"], "FieldsV1");
    let f = &created["fieldsV1"];
    assert_eq!(f["f:metadata"], json!({"f:labels":{".":{},"f:app":{}}}));
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert_eq!(f["f:spec"]["f:selector"], json!({}));
    assert_eq!(
        f["f:spec"]["f:strategy"]["f:rollingUpdate"],
        json!({".":{},"f:maxSurge":{},"f:maxUnavailable":{}})
    );
    let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(
        c["f:ports"],
        json!({".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}})
    );
    assert_eq!(
        c["f:imagePullPolicy"],
        json!({}),
        "defaulted fields belong to the creator"
    );

    // kubectl hides managedFields unless asked.
    let yaml = k.ok(&["get", "deploy", "web", "-o", "yaml"]);
    assert!(!yaml.contains("managedFields"), "{yaml}");
    let yaml = k.ok(&["get", "deploy", "web", "-o", "yaml", "--show-managed-fields"]);
    assert!(yaml.contains("manager: kubectl-create"), "{yaml}");

    // kubectl label: its own entry with only the new label; a no-op PUT changes nothing.
    k.ok(&["label", "deploy", "web", "tier=fe"]);
    let d = get(&api, DEP_PATH);
    assert_eq!(
        entry(&d, "kubectl-label", "Update")["fieldsV1"],
        json!({"f:metadata":{"f:labels":{"f:tier":{}}}})
    );
    let (code, same) = api.json("PUT", DEP_PATH, "application/json", &d.to_string());
    assert_eq!(code, 200, "{same}");
    assert_eq!(rv(&same), rv(&d), "a no-op update is not written");

    // kubectl scale (1.20 does not track scale writes), then an apply of another replicas
    // count conflicts with the creator.
    k.ok(&["scale", "deploy", "web", "--replicas=3"]);
    let out = k.run_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"),
        "{stderr}"
    );
    let body = DEPLOY_JSON.replace("\"replicas\":2", "\"replicas\":4");
    let (code, status) = api.json(
        "PATCH",
        &format!("{DEP_PATH}?fieldManager=raw"),
        "application/apply-patch+yaml",
        &body,
    );
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-create\" using apps/v1","field":".spec.replicas"}])
    );

    // Missing fieldManager: 422; force on a non-apply patch: 422.
    let (code, status) = api.json("PATCH", DEP_PATH, "application/apply-patch+yaml", &body);
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let (code, status) = api.json(
        "PATCH",
        &format!("{DEP_PATH}?force=true"),
        "application/merge-patch+json",
        "{}",
    );
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );

    // --dry-run=server: the answer is applied, the store is not.
    let before = get(&api, DEP_PATH);
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            "-",
        ],
        Some(DEPLOY),
    );
    assert_eq!(rv(&get(&api, DEP_PATH)), rv(&before));

    // --force-conflicts wins; ownership of .spec.replicas moves to kubectl.
    k.ok_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(DEPLOY),
    );
    let d = get(&api, DEP_PATH);
    assert_eq!(d["spec"]["replicas"], 2);
    let applied = entry(&d, "kubectl", "Apply");
    assert_eq!(applied["fieldsV1"]["f:spec"]["f:replicas"], json!({}), "{d}");
    assert!(entry(&d, "kubectl-create", "Update")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_none());
    // Applying the same again is a no-op: no new resourceVersion.
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let again = get(&api, DEP_PATH);
    assert_eq!(rv(&again), rv(&d), "idempotent apply");
    assert_eq!(managed(&again), managed(&d));

    // A second applier sharing the image: both own it; the first stops applying the label
    // it alone applied and the label goes, the shared field stays.
    let shared = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.19"}]}}}}"#;
    let (code, v) = api.json(
        "PATCH",
        &format!("{DEP_PATH}?fieldManager=other"),
        "application/apply-patch+yaml",
        shared,
    );
    assert_eq!(code, 200, "{v}");
    let img = |e: &Value| {
        e["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
            .get("f:image")
            .is_some()
    };
    assert!(img(&entry(&v, "other", "Apply")) && img(&entry(&v, "kubectl", "Apply")));
    let with_extra = DEPLOY.replace("labels: {app: web}\nspec:", "labels: {app: web, extra: x}\nspec:");
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(&with_extra));
    assert_eq!(get(&api, DEP_PATH)["metadata"]["labels"]["extra"], "x");
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let d = get(&api, DEP_PATH);
    assert!(d["metadata"]["labels"].get("extra").is_none(), "{d}");
    let without_env = DEPLOY.replace("        env: [{name: A, value: \"1\"}]\n", "");
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(&without_env));
    let d = get(&api, DEP_PATH);
    let c0 = &d["spec"]["template"]["spec"]["containers"][0];
    assert!(c0.get("env").is_some(), "env is still kubectl-create's: {d}");
    assert_eq!(c0["image"], "nginx:1.19");

    // Apply creates a missing object; client-side kubectl apply works on it afterwards.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"1","b":"2"}}"#;
    let (code, v) = api.json(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm?fieldManager=ssa",
        "application/apply-patch+yaml",
        cm,
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        entry(&v, "ssa", "Apply")["fieldsV1"],
        json!({"f:data":{"f:a":{},"f:b":{}}})
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: \"1\", c: \"3\"}\n"),
    );
    let v = get(&api, "/api/v1/namespaces/default/configmaps/cm");
    assert_eq!(v["data"]["c"], "3");
    assert!(entry(&v, "kubectl-client-side-apply", "Update")["fieldsV1"]["f:data"]
        .get("f:c")
        .is_some());

    // A custom resource.
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(CRD));
    k.ok(&[
        "wait",
        "--for=condition=established",
        "crd/gadgets.example.com",
        "--timeout=30s",
    ]);
    let gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {size: big, tags: {a: b}}\n";
    let mut applied = false;
    for _ in 0..50 {
        if k.run_stdin(&["apply", "--server-side", "-f", "-"], Some(gadget))
            .status
            .success()
        {
            applied = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(applied, "custom resource applied");
    let g = get(&api, "/apis/example.com/v1/namespaces/default/gadgets/g");
    assert_eq!(
        entry(&g, "kubectl", "Apply")["fieldsV1"],
        json!({"f:spec":{"f:size":{},"f:tags":{"f:a":{}}}}),
        "{g}"
    );
    let (code, v) = api.json(
        "PATCH",
        "/apis/example.com/v1/namespaces/default/gadgets/g?fieldManager=other",
        "application/apply-patch+yaml",
        r#"{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"size":"small"}}"#,
    );
    assert_eq!(code, 409, "{v}");
    assert_eq!(
        v["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.size"
    );
}

const DEPLOY_JSON: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
"spec":{"containers":[{"name":"nginx","image":"nginx:1.19","ports":[{"containerPort":80}],"env":[{"name":"A","value":"1"}]}]}}}}"#;

#[test]
fn server_side_apply_with_json_storage() {
    flow(&[]);
}

#[test]
fn server_side_apply_with_protobuf_storage() {
    flow(&["--storage-media-type", "application/vnd.kubernetes.protobuf"]);
}

#[test]
fn kubectl_apply_server_side_creates_with_kubectl_manager_and_other_writes_get_entries() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let k = Kubectl::new(&api.url);
    let out = k.ok_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    assert!(out.contains("serverside-applied"), "{out}");
    let d = get(&api, DEP_PATH);
    let fields: Vec<(String, String)> = managed(&d)
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").into(),
                e["operation"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(fields, vec![("kubectl".to_string(), "Apply".to_string())]);
    // Status writes are tracked too (the request's own managedFields are ignored).
    let mut s = d.clone();
    s["status"] = json!({"replicas": 1});
    s["metadata"]["managedFields"] = json!([]);
    let (code, v) = api.json(
        "PUT",
        &format!("{DEP_PATH}/status?fieldManager=ctrl"),
        "application/json",
        &s.to_string(),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        entry(&v, "ctrl", "Update")["fieldsV1"],
        json!({"f:status":{"f:replicas":{}}})
    );
    assert!(!entry(&v, "kubectl", "Apply").is_null());
    // A user agent without ?fieldManager names the manager by its prefix.
    let (code, v) = api.json(
        "PATCH",
        DEP_PATH,
        "application/merge-patch+json",
        r#"{"metadata":{"annotations":{"x":"y"}}}"#,
    );
    assert_eq!(code, 200, "{v}");
    let agents: Vec<String> = managed(&v)
        .iter()
        .filter_map(|e| e["manager"].as_str().map(String::from))
        .collect();
    assert_eq!(agents.len(), 3, "{agents:?}");

    // A pod's creator owns what it sent plus defaults, not what admission and
    // PrepareForCreate add (tolerations, status), as in kube.
    k.ok_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n"),
    );
    let p = get(&api, "/api/v1/namespaces/default/pods/p");
    let f = &entry(&p, "kubectl-create", "Update")["fieldsV1"];
    assert!(p["spec"].get("tolerations").is_some(), "{p}");
    assert!(
        f["f:spec"].get("f:tolerations").is_none() && f.get("f:status").is_none(),
        "{f}"
    );
    assert_eq!(f["f:spec"]["f:dnsPolicy"], json!({}), "{f}");
}
