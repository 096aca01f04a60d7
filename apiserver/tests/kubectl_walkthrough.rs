//! The seeds' walk-through with stock kubectl 1.32 against apiserver on a
//! real etcd (or `kv`, see `common`): health, get, apply (pod, deployment,
//! configmap, service, namespace), output formats, watch, describe, label,
//! annotate, patch (merge/json/strategic), delete, api-resources.

mod common;

use common::{etcd_kv, wait_line, ApiServer, Kubectl, Store};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports: [{containerPort: 80}]
    env: [{name: A, value: "1"}, {name: B, value: "2"}]
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"#;

const CONFIGMAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1", b: "2"}
"#;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"#;

const NAMESPACE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"#;

#[test]
fn seeds_walkthrough_with_kubectl() {
    walkthrough(&[]);
}

/// The same walk-through with values stored as kube-apiserver's protobuf.
#[test]
fn seeds_walkthrough_with_protobuf_storage() {
    walkthrough(&["--storage-media-type", "application/vnd.kubernetes.protobuf"]);
}

fn walkthrough(apiserver_args: &[&str]) {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, apiserver_args);
    let k = Kubectl::new(&api.url);

    // curl /healthz → ok
    assert_eq!(api.get("/healthz"), (200, "ok".to_string()));
    assert_eq!(api.get("/readyz").0, 200);
    assert_eq!(api.get("/livez").0, 200);
    let (_, metrics) = api.get("/metrics");
    assert!(metrics.contains("apiserver_request_total"), "{metrics}");

    let version = k.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"serverVersion\""), "{version}");

    // Default namespaces and an empty cluster.
    let ns = k.ok(&["get", "namespaces"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    let out = k.run(&["get", "pods", "-A"]);
    assert!(out.status.success());

    // apply -f without --validate=false.
    for (doc, want) in [
        (NAMESPACE, "namespace/team-a created"),
        (POD, "pod/nginx created"),
        (DEPLOYMENT, "deployment.apps/web created"),
        (CONFIGMAP, "configmap/settings created"),
        (SERVICE, "service/web created"),
    ] {
        let out = k.ok_stdin(&["apply", "-f", "-"], Some(doc));
        assert!(out.contains(want), "{out}");
    }
    let sa = k.ok(&["get", "serviceaccounts", "-n", "team-a"]);
    assert!(sa.contains("default"), "no default ServiceAccount: {sa}");
    let again = k.ok_stdin(&["apply", "-f", "-"], Some(POD));
    assert!(again.contains("pod/nginx unchanged"), "{again}");
    // Re-apply with a changed image and a removed env var: strategic 3-way patch.
    let changed = POD
        .replace("nginx:1.25", "nginx:1.26")
        .replace(", {name: B, value: \"2\"}", "");
    let out = k.ok_stdin(&["apply", "-f", "-"], Some(&changed));
    assert!(out.contains("pod/nginx configured"), "{out}");
    let env = k.ok(&[
        "get",
        "pod",
        "nginx",
        "-o",
        "jsonpath={.spec.containers[0].image} {.spec.containers[0].env[*].name}",
    ]);
    assert_eq!(env, "nginx:1.26 A");

    // Tables, wide, yaml, json.
    let pods = k.ok(&["get", "pods"]);
    assert!(
        pods.contains("READY") && pods.contains("STATUS") && pods.contains("RESTARTS"),
        "{pods}"
    );
    assert!(
        pods.contains("nginx") && pods.contains("0/1") && pods.contains("Pending"),
        "{pods}"
    );
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("NODE") && wide.contains("NOMINATED NODE"), "{wide}");
    let all = k.ok(&["get", "pods", "-A"]);
    assert!(all.contains("NAMESPACE") && all.contains("default"), "{all}");
    let deploy = k.ok(&["get", "deploy"]);
    assert!(deploy.contains("UP-TO-DATE") && deploy.contains("0/2"), "{deploy}");
    let svc = k.ok(&["get", "svc", "web"]);
    assert!(svc.contains("CLUSTER-IP") && svc.contains("80/TCP"), "{svc}");
    let cm = k.ok(&["get", "cm", "settings"]);
    assert!(cm.contains("DATA") && cm.contains('2'), "{cm}");
    let yaml = k.ok(&["get", "pod", "nginx", "-o", "yaml"]);
    assert!(
        yaml.contains("restartPolicy: Always") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "web", "-o", "json"])).expect("json");
    assert_eq!(json["spec"]["replicas"], 2);
    assert_eq!(json["metadata"]["generation"], 1);
    let nsd = k.ok(&["get", "ns", "team-a"]);
    assert!(nsd.contains("Active"), "{nsd}");

    // get -w sees a change (bounded).
    let (_watch, rx) = k.stream(&["get", "pod", "nginx", "-w", "--show-labels", "--request-timeout=30s"]);
    assert!(
        wait_line(&rx, 15, |l| l.contains("nginx")).is_some(),
        "no initial watch line"
    );
    let out = k.ok(&["label", "pod", "nginx", "tier=front"]);
    assert!(out.contains("pod/nginx labeled"), "{out}");
    assert!(
        wait_line(&rx, 15, |l| l.contains("tier=front")).is_some(),
        "watch did not see the label"
    );

    // annotate, describe.
    assert!(k.ok(&["annotate", "pod", "nginx", "owner=team"]).contains("annotated"));
    let desc = k.ok(&["describe", "pod", "nginx"]);
    assert!(
        desc.contains("Name:") && desc.contains("nginx:1.26") && desc.contains("owner: team"),
        "{desc}"
    );
    let desc = k.ok(&["describe", "deployment", "web"]);
    assert!(desc.contains("Replicas:"), "{desc}");

    // patch: merge, json, strategic (list merge by name).
    k.ok(&[
        "patch",
        "pod",
        "nginx",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"m":"1"}}}"#,
    ]);
    k.ok(&[
        "patch",
        "pod",
        "nginx",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/j","value":"2"}]"#,
    ]);
    k.ok(&[
        "patch",
        "pod",
        "nginx",
        "-p",
        r#"{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}"#,
    ]);
    let labels = k.ok(&["get", "pod", "nginx", "-o", "jsonpath={.metadata.labels.m}{.metadata.labels.j} {.spec.containers[0].image} {.spec.containers[0].ports[0].containerPort}"]);
    assert_eq!(labels, "12 nginx:1.27 80");
    // scale goes through the deployments/scale subresource.
    assert!(k
        .ok(&["scale", "deployment", "web", "--replicas=3"])
        .contains("deployment.apps/web scaled"));
    let scaled = k.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.generation}",
    ]);
    assert_eq!(scaled, "3 2");
    let bad = k.run(&[
        "patch",
        "pod",
        "nginx",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/nope"}]"#,
    ]);
    assert!(!bad.status.success());

    // Errors are Kubernetes messages.
    let missing = k.run(&["get", "pod", "nope"]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains(r#"pods "nope" not found"#), "{err}");
    let dup = k.run(&["create", "configmap", "settings"]);
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(err.contains(r#"configmaps "settings" already exists"#), "{err}");
    let invalid = k.run_stdin(&["create", "-f", "-"], Some(&CONFIGMAP.replace("settings", "Bad_Name")));
    let err = String::from_utf8_lossy(&invalid.stderr);
    assert!(err.contains("a lowercase RFC 1123 subdomain must consist of"), "{err}");

    // kubectl defers validation to the server (fieldValidation=Strict).
    let strict = k.run_stdin(
        &["apply", "-f", "-"],
        Some(&format!("{CONFIGMAP}foo: bar\n").replace("settings", "strict")),
    );
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        err.contains(
            r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "foo""#
        ),
        "{err}"
    );

    // Generators send protobuf bodies (k8s\0 envelope).
    assert!(k
        .ok(&["create", "namespace", "team-b"])
        .contains("namespace/team-b created"));
    assert!(k
        .ok(&["create", "configmap", "gen", "-n", "team-b", "--from-literal=a=1"])
        .contains("created"));
    assert!(k
        .ok(&[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "team-b",
            "--from-literal=p=pw"
        ])
        .contains("created"));
    assert!(k
        .ok(&[
            "create",
            "deployment",
            "d",
            "-n",
            "team-b",
            "--image=nginx:1.25",
            "--replicas=2"
        ])
        .contains("created"));
    assert!(k
        .ok(&["run", "r", "-n", "team-b", "--image=busybox", "--", "sleep", "1"])
        .contains("pod/r created"));
    let got = k.ok(&[
        "get",
        "-n",
        "team-b",
        "cm/gen",
        "secret/s",
        "deploy/d",
        "pod/r",
        "-o",
        "jsonpath={.items[0].data.a} {.items[1].data.p} {.items[2].spec.replicas} {.items[3].spec.containers[0].args}",
    ]);
    assert_eq!(got, r#"1 cHc= 2 ["sleep","1"]"#);

    let nested = POD.replace("name: nginx\n", "name: typo\n").replace(
        "    image: nginx:1.25\n",
        "    image: nginx:1.25\n    imagePullPolicyy: Always\n",
    );
    let err = String::from_utf8_lossy(&k.run_stdin(&["apply", "-f", "-"], Some(&nested)).stderr).into_owned();
    assert!(
        err.contains(r#"unknown field "spec.containers[0].imagePullPolicyy""#),
        "{err}"
    );

    // explain reads the OpenAPI v3 documents.
    let explain = k.ok(&["explain", "pods.spec"]);
    assert!(
        explain.contains("FIELD: spec <PodSpec>") && explain.contains("containers\t<[]Container>"),
        "{explain}"
    );

    // api-resources.
    let res = k.ok(&["api-resources"]);
    for r in ["pods", "deployments", "leases", "namespaces", "po ", "deploy"] {
        assert!(res.contains(r), "{r}: {res}");
    }

    // delete (kubectl waits for the object to disappear via a watch).
    assert!(k
        .ok(&["delete", "pod", "nginx", "--timeout=20s"])
        .contains(r#"pod "nginx" deleted"#));
    let out = k.ok_stdin(&["delete", "-f", "-", "--timeout=20s"], Some(SERVICE));
    assert!(out.contains("deleted"), "{out}");
    let gone = k.run(&["get", "pod", "nginx"]);
    assert!(!gone.status.success());
    let out = k.ok(&["delete", "namespace", "team-a", "--timeout=30s"]);
    assert!(out.contains(r#"namespace "team-a" deleted"#), "{out}");
    let after = k.run(&["get", "namespace", "team-a"]);
    assert!(!after.status.success(), "namespace still there");
}

/// `kubectl create` of the other built-in kinds (kubectl sends them as protobuf): Jobs,
/// CronJobs (batch/v1 as kubectl 1.32 writes them, also read as 1.20's v1beta1), RBAC,
/// PriorityClass, PodDisruptionBudget, Ingress, PersistentVolumeClaim; each is read back.
#[test]
fn other_builtin_kinds_with_kubectl() {
    let store = Store::start();
    let api = ApiServer::start_with(
        &store.endpoint,
        &["--storage-media-type", "application/vnd.kubernetes.protobuf"],
    );
    let k = Kubectl::new(&api.url);
    for (args, want) in [
        (
            vec!["create", "job", "once", "--image=busybox", "--", "echo", "hi"],
            "job.batch/once created",
        ),
        (
            vec![
                "create",
                "cronjob",
                "tick",
                "--image=busybox",
                "--schedule=*/5 * * * *",
                "--",
                "date",
            ],
            "cronjob.batch/tick created",
        ),
        (
            vec![
                "create",
                "clusterrole",
                "pod-reader",
                "--verb=get,list",
                "--resource=pods",
            ],
            "clusterrole.rbac.authorization.k8s.io/pod-reader created",
        ),
        (
            vec![
                "create",
                "rolebinding",
                "read-pods",
                "--clusterrole=pod-reader",
                "--user=bob",
            ],
            "rolebinding.rbac.authorization.k8s.io/read-pods created",
        ),
        (
            vec!["create", "priorityclass", "high", "--value=1000"],
            "priorityclass.scheduling.k8s.io/high created",
        ),
        (
            vec!["create", "pdb", "web", "--selector=app=web", "--min-available=1"],
            "poddisruptionbudget.policy/web created",
        ),
        (
            vec!["create", "ingress", "web", "--rule=web.example/=web:80"],
            "ingress.networking.k8s.io/web created",
        ),
    ] {
        let out = k.ok(&args);
        assert!(out.contains(want), "{args:?}: {out}");
    }
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    assert!(k
        .ok_stdin(&["apply", "-f", "-"], Some(pvc))
        .contains("persistentvolumeclaim/data created"));

    assert_eq!(
        k.ok(&[
            "get",
            "job",
            "once",
            "-o",
            "jsonpath={.spec.template.spec.restartPolicy}"
        ]),
        "Never"
    );
    let sel = k.ok(&[
        "get",
        "job",
        "once",
        "-o",
        "jsonpath={.spec.selector.matchLabels.controller-uid}",
    ]);
    let uid = k.ok(&["get", "job", "once", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(sel, uid, "a Job's generated selector is its uid");
    assert_eq!(
        k.ok(&["get", "cronjob", "tick", "-o", "jsonpath={.spec.schedule}"]),
        "*/5 * * * *"
    );
    let (code, v1beta1) = api.json(
        "GET",
        "/apis/batch/v1beta1/namespaces/default/cronjobs/tick",
        "application/json",
        "",
    );
    assert_eq!(code, 200, "{v1beta1}");
    assert_eq!(v1beta1["spec"]["schedule"], "*/5 * * * *");
    assert_eq!(
        k.ok(&["get", "clusterrole", "pod-reader", "-o", "jsonpath={.rules[0].verbs}"]),
        r#"["get","list"]"#
    );
    assert_eq!(
        k.ok(&["get", "rolebinding", "read-pods", "-o", "jsonpath={.subjects[0].name}"]),
        "bob"
    );
    assert_eq!(k.ok(&["get", "pc", "high", "-o", "jsonpath={.value}"]), "1000");
    assert_eq!(k.ok(&["get", "pdb", "web", "-o", "jsonpath={.spec.minAvailable}"]), "1");
    assert_eq!(
        k.ok(&["get", "ingress", "web", "-o", "jsonpath={.spec.rules[0].host}"]),
        "web.example"
    );
    assert_eq!(
        k.ok(&["get", "pvc", "data", "-o", "jsonpath={.status.phase}"]),
        "Pending"
    );
    let all = k.ok(&["get", "all"]);
    assert!(
        all.contains("job.batch/once") && all.contains("cronjob.batch/tick"),
        "{all}"
    );
    // Stored in kube-apiserver's protobuf envelope under its keys.
    for key in [
        "/registry/jobs/default/once",
        "/registry/clusterroles/pod-reader",
        "/registry/ingress/default/web",
    ] {
        let raw = etcd_kv(&store.endpoint, key).expect("stored").value;
        assert!(
            raw.starts_with(b"k8s\x00"),
            "{key} not in the protobuf envelope: {:?}",
            &raw[..raw.len().min(16)]
        );
    }
}
