//! CustomResourceDefinitions end to end with stock kubectl 1.32 (etcd or `kv`, see `common`):
//! a CRD with two versions, status+scale subresources, printer columns, a short name, a
//! category and a schema (required/enum/default/pattern) becomes Established and served;
//! custom resources are defaulted, pruned, validated with kube's messages, patched, scaled,
//! watched, read through the other version, explained, listed by api-resources and stored as
//! kube-apiserver stores them (JSON, even with protobuf storage); deleting the CRD deletes
//! them and stops serving.

mod common;

use std::time::{Duration, Instant};

use common::{etcd_kv, wait_line, ApiServer, Kubectl, Store};
use serde_json::Value;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a test widget.
        properties:
          spec:
            type: object
            description: The widget wanted.
            required: [size]
            properties:
              size:
                type: string
                description: How big the widget is.
                enum: [small, large]
              color:
                type: string
                default: blue
                pattern: '^[a-z]+$'
              replicas:
                type: integer
                minimum: 0
                default: 1
          status:
            type: object
            properties:
              replicas: {type: integer}
              phase: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, labels: {app: demo}}
spec:
  size: small
  unknownField: dropped
"#;

fn get_json(k: &Kubectl, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    serde_json::from_str(&k.ok(&a)).expect("json")
}

fn stderr_of(k: &Kubectl, args: &[&str], stdin: Option<&str>) -> String {
    let out = k.run_stdin(args, stdin);
    assert!(!out.status.success(), "kubectl {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn custom_resources_with_kubectl() {
    let store = Store::start();
    // Protobuf storage: custom resources are still stored as JSON, as kube-apiserver does.
    let api = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    let k = Kubectl::new(&api.url);
    // Warm kubectl's discovery cache before the CRD exists (it must notice the new kinds).
    k.ok(&["api-resources"]);

    // A CRD kube refuses, with kube's message.
    let bad = CRD.replace("name: widgets.example.com", "name: widget.example.com");
    let err = stderr_of(&k, &["apply", "-f", "-"], Some(&bad));
    assert!(
        err.contains(r#"metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group"#),
        "{err}"
    );

    let out = k.ok_stdin(&["apply", "-f", "-"], Some(CRD));
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"),
        "{out}"
    );
    let started = Instant::now();
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ]);
    assert!(started.elapsed() < Duration::from_secs(10));
    let crd = get_json(&k, &["get", "crd", "widgets.example.com"]);
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"][0], "wd");
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["storedVersions"], serde_json::json!(["v1"]));
    assert_eq!(crd["spec"]["conversion"]["strategy"], "None");
    let conds = crd["status"]["conditions"].as_array().expect("conditions");
    let cond = |t: &str| conds.iter().find(|c| c["type"] == t).cloned().unwrap_or_default();
    assert_eq!(
        (
            cond("NamesAccepted")["status"].as_str(),
            cond("NamesAccepted")["reason"].as_str()
        ),
        (Some("True"), Some("NoConflicts"))
    );
    assert_eq!(
        (
            cond("Established")["status"].as_str(),
            cond("Established")["reason"].as_str()
        ),
        (Some("True"), Some("InitialNamesAccepted"))
    );

    // Discovery, api-resources, explain.
    let ar = k.ok(&["api-resources", "--api-group=example.com"]);
    let line = ar.lines().find(|l| l.starts_with("widgets")).unwrap_or_default();
    for w in ["wd", "example.com/v1", "true", "Widget"] {
        assert!(line.contains(w), "{ar}");
    }
    let (code, group) = api.json("GET", "/apis/example.com", "application/json", "");
    assert_eq!((code, group["preferredVersion"]["version"].as_str()), (200, Some("v1")));
    let explain = k.ok(&["explain", "widgets.spec"]);
    assert!(
        explain.contains("How big the widget is") && explain.contains("size"),
        "{explain}"
    );

    // Strict field validation (kubectl's default) refuses unknown fields; without it they
    // are pruned.
    let err = stderr_of(&k, &["apply", "-f", "-"], Some(WIDGET));
    assert!(err.contains(r#"unknown field "spec.unknownField""#), "{err}");
    let out = k.ok_stdin(&["apply", "--validate=false", "-f", "-"], Some(WIDGET));
    assert!(out.contains("widget.example.com/w1 created"), "{out}");

    // Re-apply (kubectl's three-way JSON merge patch for custom resources), selectors.
    let relabelled = WIDGET.replace("app: demo", "app: demo2");
    let out = k.ok_stdin(&["apply", "--validate=false", "-f", "-"], Some(&relabelled));
    assert!(out.contains("widget.example.com/w1 configured"), "{out}");
    assert!(k
        .ok(&["get", "wd", "-l", "app=demo2", "-o", "name"])
        .contains("widget.example.com/w1"));
    assert!(k.ok(&["get", "wd", "-l", "app=demo", "-o", "name"]).is_empty());
    let by_name = k.ok(&[
        "get",
        "wd",
        "-A",
        "--field-selector",
        "metadata.namespace=default,metadata.name=w1",
        "-o",
        "name",
    ]);
    assert_eq!(by_name.trim(), "widget.example.com/w1");

    // Short name and printer columns.
    let table = k.ok(&["get", "wd"]);
    let header = table.lines().next().unwrap_or_default();
    for h in ["NAME", "SIZE", "REPLICAS", "AGE"] {
        assert!(header.contains(h), "{table}");
    }
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row[..3], ["w1", "small", "1"], "{table}");
    // Defaults applied, unknown fields pruned.
    let yaml = k.ok(&["get", "wd", "w1", "-o", "yaml"]);
    assert!(yaml.contains("color: blue") && yaml.contains("replicas: 1"), "{yaml}");
    let w = get_json(&k, &["get", "wd", "w1"]);
    assert!(w["spec"].get("unknownField").is_none(), "{yaml}");
    assert_eq!(w["metadata"]["generation"], 1);

    // Invalid custom resources: kube's messages in a 422.
    let invalid = WIDGET
        .replace("name: w1", "name: bad")
        .replace("size: small", "size: huge\n  replicas: \"three\"\n  color: Red");
    let err = stderr_of(&k, &["create", "--validate=false", "-f", "-"], Some(&invalid));
    for want in [
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        r#"spec.size: Unsupported value: "huge": supported values: "small", "large""#,
        r#"spec.color: Invalid value: "": spec.color in body should match '^[a-z]+$'"#,
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
    let (code, status) = api.json(
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets",
        "application/json",
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"bad"},"spec":{}}"#,
    );
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        r#"Widget.example.com "bad" is invalid: spec.size: Required value"#
    );
    assert_eq!(status["details"]["causes"][0]["field"], "spec.size");

    // Merge patch bumps the generation; strategic merge patch is refused (415).
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":"large"}}"#,
    ]);
    let w = get_json(&k, &["get", "wd", "w1"]);
    assert_eq!(
        (w["spec"]["size"].as_str(), w["metadata"]["generation"].as_i64()),
        (Some("large"), Some(2))
    );
    let err = stderr_of(&k, &["patch", "wd", "w1", "-p", r#"{"spec":{"size":"small"}}"#], None);
    assert!(
        err.contains("the body of the request was in an unknown format"),
        "{err}"
    );
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/color","value":"red"}]"#,
    ]);

    // Status subresource: spec ignored on /status, status ignored on the main resource.
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":"small"},"status":{"replicas":2,"phase":"Ready"}}"#,
    ]);
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Ignored"}}"#,
    ]);
    let w = get_json(&k, &["get", "wd", "w1"]);
    assert_eq!(w["spec"]["size"], "large");
    assert_eq!(w["status"], serde_json::json!({"replicas": 2, "phase": "Ready"}));
    assert_eq!(
        w["metadata"]["generation"], 3,
        "status writes do not bump the generation"
    );

    // Watch, scale.
    let (_watch, rx) = k.stream(&["get", "wd", "-w", "--request-timeout=30s"]);
    assert!(
        wait_line(&rx, 15, |l| l.starts_with("w1")).is_some(),
        "no initial watch line"
    );
    let out = k.ok(&["scale", "wd", "w1", "--replicas=3"]);
    assert!(out.contains("widget.example.com/w1 scaled"), "{out}");
    assert!(
        wait_line(&rx, 15, |l| l.split_whitespace().take(3).eq(["w1", "large", "3"])).is_some(),
        "watch did not see the scale"
    );
    let (code, scale) = api.json(
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
        "application/json",
        "",
    );
    assert_eq!(code, 200);
    assert_eq!(
        (scale["spec"]["replicas"].as_i64(), scale["status"]["replicas"].as_i64()),
        (Some(3), Some(2))
    );

    // The other version: same object, its apiVersion.
    let beta = get_json(&k, &["get", "widgets.v1beta1.example.com", "w1"]);
    assert_eq!(beta["apiVersion"], "example.com/v1beta1");
    assert_eq!(beta["spec"]["replicas"], 3);

    // Paging and deletecollection through the generic store.
    let coll = "/apis/example.com/v1/namespaces/default/widgets";
    for n in ["w2", "w3"] {
        let body = format!(
            r#"{{"apiVersion":"example.com/v1","kind":"Widget","metadata":{{"name":"{n}","labels":{{"app":"extra"}}}},"spec":{{"size":"small"}}}}"#
        );
        assert_eq!(api.json("POST", coll, "application/json", &body).0, 201);
    }
    let (_, page) = api.json("GET", &format!("{coll}?limit=2"), "application/json", "");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_string();
    let (_, rest) = api.json(
        "GET",
        &format!("{coll}?limit=2&continue={token}"),
        "application/json",
        "",
    );
    assert_eq!(rest["items"][0]["metadata"]["name"], "w3");
    let (code, deleted) = api.json(
        "DELETE",
        &format!("{coll}?labelSelector=app%3Dextra"),
        "application/json",
        "",
    );
    assert_eq!((code, deleted["items"].as_array().map(Vec::len)), (200, Some(2)));
    let (_, left) = api.json("GET", coll, "application/json", "");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(1));

    // Category "all".
    let all = k.ok(&["get", "all"]);
    assert!(all.contains("widget.example.com/w1"), "{all}");

    // Stored as kube-apiserver 1.20 stores custom resources.
    let kv = etcd_kv(&store.endpoint, "/registry/example.com/widgets/default/w1").expect("stored key");
    let stored: Value = serde_json::from_slice(&kv.value).expect("JSON value");
    assert_eq!(stored["apiVersion"], "example.com/v1");
    assert_eq!(stored["kind"], "Widget");
    assert_eq!(stored["spec"]["replicas"], 3);
    assert!(stored["metadata"].get("resourceVersion").is_none());
    // The CRD as kube-apiserver 1.20 stores it: v1beta1 JSON, versions' fields hoisted only
    // when all versions agree.
    let kv = etcd_kv(
        &store.endpoint,
        "/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com",
    )
    .expect("stored CRD");
    let stored: Value = serde_json::from_slice(&kv.value).expect("JSON CRD");
    assert_eq!(stored["apiVersion"], "apiextensions.k8s.io/v1beta1");
    assert_eq!(stored["spec"]["version"], "v1");
    assert!(stored["spec"].get("validation").is_none(), "schemas differ per version");
    assert_eq!(
        stored["spec"]["versions"][0]["additionalPrinterColumns"][0]["JSONPath"],
        ".spec.size"
    );

    // Deleting the CRD deletes its custom resources and stops serving them.
    let (_watch, rx) = k.stream(&["get", "wd", "w1", "-w", "-o", "name", "--request-timeout=60s"]);
    assert!(
        wait_line(&rx, 15, |l| l.contains("w1")).is_some(),
        "no initial watch line"
    );
    let out = k.ok(&["delete", "crd", "widgets.example.com", "--timeout=60s"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(etcd_kv(&store.endpoint, "/registry/example.com/widgets/default/w1").is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = api.get("/apis/example.com/v1/namespaces/default/widgets");
        if code == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "still served: {code}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.get("/apis/example.com").0, 404);
    // The watch of a CRD that is gone ends (as kube-apiserver ends it): kubectl exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = rx.recv_timeout(Duration::from_millis(200)) {
            return;
        }
    }
    panic!("watch still open after the CRD was deleted");
}
