//! Authorization on the secure port (`--authorization-mode Node,RBAC`,
//! `--enable-admission-plugins NodeRestriction`): RBAC allow/deny with kube's exact 403
//! Status, group bindings, resourceNames, subresources, nonResourceURLs, ServiceAccount
//! subjects through a token, aggregated ClusterRoles, the bootstrap policy (and its
//! reconciliation on restart), the Node authorizer, NodeRestriction, and `kubectl auth
//! can-i` (SelfSubjectAccessReview / SelfSubjectRulesReview) with a token kubeconfig.

mod common;

use std::path::PathBuf;

use base64::Engine;
use common::{wait_for, ApiServer, Http, Kubectl, Store};
use serde_json::{json, Value};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

const TOKENS: &str = "admin-token,admin,1,\"system:masters\"
bob-token,bob,2
carol-token,carol,3,\"devs\"
node1-token,system:node:node1,4,\"system:nodes\"
node2-token,system:node:node2,5,\"system:nodes\"
";

/// An apiserver with a secure port, the token file above and the given extra flags.
struct Secure {
    api: ApiServer,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Secure {
    fn start(store: &Store, extra: &[&str]) -> Secure {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).expect("token file");
        let port = common::free_port();
        let path = |p: PathBuf| p.to_str().expect("utf-8 path").to_string();
        let mut args: Vec<String> = [
            "--secure-port",
            &port.to_string(),
            "--bind-address",
            "127.0.0.1",
            "--cert-dir",
            &path(dir.path().join("certs")),
            "--token-auth-file",
            &path(tokens),
            "--authorization-mode",
            "Node,RBAC",
            "--enable-admission-plugins",
            "NodeRestriction",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let api = ApiServer::start_with(&store.endpoint, &refs);
        let s = Secure { api, port, _dir: dir };
        wait_for(10, "secure port", || {
            s.as_user("admin-token").try_request("GET", "/version", JSON, "").ok()
        });
        s
    }

    fn as_user(&self, token: &str) -> Http {
        Http::tls(self.port, token)
    }

    /// POST as admin on the insecure port; 201 expected.
    fn create(&self, path: &str, obj: Value) -> Value {
        let (code, b) = self.api.json("POST", path, JSON, &obj.to_string());
        assert_eq!(code, 201, "POST {path}: {b}");
        b
    }
}

fn forbidden_message(http: &Http, method: &str, path: &str, body: &str) -> String {
    let (code, b) = http.json(method, path, JSON, body);
    assert_eq!(code, 403, "{method} {path}: {b}");
    assert_eq!(
        (b["kind"].as_str(), b["reason"].as_str()),
        (Some("Status"), Some("Forbidden"))
    );
    b["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn rbac_roles_bindings_and_the_bootstrap_policy() {
    let store = Store::start();
    let s = Secure::start(&store, &["--controllers=clusterrole-aggregation,serviceaccount-token"]);
    let (bob, carol) = (s.as_user("bob-token"), s.as_user("carol-token"));

    // Bootstrap policy: kube's roles, labels, annotations and rules (testdata/cluster-roles.yaml).
    let (code, node_role) = s.api.json("GET", &format!("{RBAC}/clusterroles/system:node"), JSON, "");
    assert_eq!(code, 200, "{node_role}");
    assert_eq!(
        node_role["metadata"]["labels"]["kubernetes.io/bootstrapping"],
        "rbac-defaults"
    );
    assert_eq!(
        node_role["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
        "true"
    );
    let rules = node_role["rules"].as_array().cloned().unwrap_or_default();
    assert!(rules.contains(&json!({"apiGroups":[""],"resources":["nodes/status"],"verbs":["patch","update"]})));
    assert!(
        rules.contains(&json!({"apiGroups":["coordination.k8s.io"],"resources":["leases"],
        "verbs":["create","delete","get","patch","update"]}))
    );
    assert_eq!(rules.len(), 22, "system:node has kube 1.20's 22 rules");
    for (kind, name) in [
        ("clusterroles", "cluster-admin"),
        ("clusterroles", "system:discovery"),
        ("clusterroles", "system:kube-controller-manager"),
        ("clusterroles", "system:controller:replicaset-controller"),
        (
            "clusterroles",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        ),
        ("clusterrolebindings", "cluster-admin"),
        ("clusterrolebindings", "system:node-proxier"),
        ("clusterrolebindings", "system:controller:job-controller"),
        (
            "namespaces/kube-system/roles",
            "extension-apiserver-authentication-reader",
        ),
        (
            "namespaces/kube-system/rolebindings",
            "system::leader-locking-kube-scheduler",
        ),
        ("namespaces/kube-public/roles", "system:controller:bootstrap-signer"),
    ] {
        let (code, o) = s.api.json("GET", &format!("{RBAC}/{kind}/{name}"), JSON, "");
        assert_eq!(code, 200, "{kind}/{name}: {o}");
        assert_eq!(
            o["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults",
            "{name}"
        );
    }

    // No binding: denied with kube's exact Status; discovery is open to everyone.
    assert_eq!(
        forbidden_message(&bob, "GET", "/api/v1/namespaces/default/pods", ""),
        "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let (code, b) = bob.json("GET", "/api/v1/namespaces/default/pods/web", JSON, "");
    assert_eq!((code, &b["details"]), (403, &json!({"name":"web","kind":"pods"})));
    assert_eq!(bob.request("GET", "/api", JSON, "").0, 200, "system:discovery");
    assert_eq!(
        bob.request("GET", "/version", JSON, "").0,
        200,
        "system:public-info-viewer"
    );
    let (code, _) = Http::tls(s.port, "wrong-token").request("GET", "/api/v1/pods", JSON, "");
    assert_eq!(code, 401, "a bad token is not anonymous");

    // Role + RoleBinding: get/list pods in default only, pods/log by subresource rule,
    // one configmap by name.
    s.create(
        &format!("{RBAC}/namespaces/default/roles"),
        json!({"metadata":{"name":"pod-reader"},"rules":[
            {"apiGroups":[""],"resources":["pods","pods/log"],"verbs":["get","list"]},
            {"apiGroups":[""],"resources":["configmaps"],"resourceNames":["allowed"],"verbs":["get","update"]}]}),
    );
    s.create(
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata":{"name":"bob-reads"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},
            "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"bob"}]}),
    );
    for name in ["allowed", "other"] {
        s.create(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata":{"name":name},"data":{"k":"v"}}),
        );
    }
    s.create("/api/v1/namespaces", json!({"metadata":{"name":"other"}}));
    let list = wait_for(10, "bob's binding in the cache", || {
        let (code, b) = bob.json("GET", "/api/v1/namespaces/default/pods", JSON, "");
        (code == 200).then_some(b)
    });
    assert_eq!(list["kind"], "PodList");
    assert_eq!(
        forbidden_message(&bob, "GET", "/api/v1/namespaces/other/pods", ""),
        "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"other\""
    );
    assert_eq!(
        forbidden_message(&bob, "DELETE", "/api/v1/namespaces/default/pods/x", ""),
        "pods \"x\" is forbidden: User \"bob\" cannot delete resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let (code, _) = bob.json("GET", "/api/v1/namespaces/default/pods/missing", JSON, "");
    assert_eq!(code, 404, "allowed, then not found");
    let (code, _) = bob.request("GET", "/api/v1/namespaces/default/pods/missing/log", JSON, "");
    assert_ne!(code, 403, "pods/log is granted by its own rule");
    assert_eq!(
        forbidden_message(&bob, "GET", "/api/v1/namespaces/default/pods/missing/status", ""),
        "pods \"missing\" is forbidden: User \"bob\" cannot get resource \"pods/status\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(
        bob.request("GET", "/api/v1/namespaces/default/configmaps/allowed", JSON, "")
            .0,
        200
    );
    assert_eq!(
        forbidden_message(&bob, "GET", "/api/v1/namespaces/default/configmaps/other", ""),
        "configmaps \"other\" is forbidden: User \"bob\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    forbidden_message(&bob, "GET", "/api/v1/namespaces/default/configmaps", "");

    // ClusterRoleBinding to a group; nonResourceURLs.
    s.create(
        &format!("{RBAC}/clusterroles"),
        json!({"metadata":{"name":"node-reader"},"rules":[
            {"apiGroups":[""],"resources":["nodes"],"verbs":["get","list","watch"]},
            {"nonResourceURLs":["/metrics","/logs/*"],"verbs":["get"]}]}),
    );
    s.create(
        &format!("{RBAC}/clusterrolebindings"),
        json!({"metadata":{"name":"devs-read-nodes"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"node-reader"},
            "subjects":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"devs"}]}),
    );
    wait_for(10, "carol's group binding", || {
        (carol.request("GET", "/api/v1/nodes", JSON, "").0 == 200).then_some(())
    });
    assert_eq!(carol.request("GET", "/metrics", JSON, "").0, 200);
    assert_eq!(bob.request("GET", "/metrics", JSON, "").0, 403);
    assert_eq!(
        carol.request("GET", "/logs/kube.log", JSON, "").0,
        404,
        "/logs/* allows, nothing there"
    );
    assert_eq!(
        forbidden_message(&carol, "GET", "/logs", ""),
        "forbidden: User \"carol\" cannot get path \"/logs\""
    );
    assert_eq!(
        forbidden_message(&bob, "GET", "/api/v1/nodes", ""),
        "nodes is forbidden: User \"bob\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );

    // A ServiceAccount subject, through the SA's token.
    s.create(
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"metadata":{"name":"robot"}}),
    );
    s.create(
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata":{"name":"robot-reads"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},
            "subjects":[{"kind":"ServiceAccount","name":"robot","namespace":"default"}]}),
    );
    let token = wait_for(30, "robot's token", || {
        let (_, l) = s.api.json("GET", "/api/v1/namespaces/default/secrets", JSON, "");
        l["items"].as_array()?.iter().find_map(|x| {
            (x["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "robot")
                .then(|| x["data"]["token"].as_str().map(String::from))
                .flatten()
        })
    });
    let token =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).expect("base64")).expect("utf-8");
    let robot = s.as_user(&token);
    wait_for(10, "robot's binding", || {
        (robot.request("GET", "/api/v1/namespaces/default/pods", JSON, "").0 == 200).then_some(())
    });
    assert_eq!(
        forbidden_message(&robot, "GET", "/api/v1/namespaces/default/secrets", ""),
        "secrets is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
    );

    // Aggregation: `view` gains the rules of a ClusterRole labelled aggregate-to-view.
    s.create(
        &format!("{RBAC}/clusterroles"),
        json!({"metadata":{"name":"widgets-view","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},
            "rules":[{"apiGroups":["example.com"],"resources":["widgets"],"verbs":["get","list"]}]}),
    );
    let view = wait_for(20, "view aggregated", || {
        let (_, v) = s.api.json("GET", &format!("{RBAC}/clusterroles/view"), JSON, "");
        v["rules"]
            .as_array()?
            .iter()
            .any(|r| r["apiGroups"] == json!(["example.com"]))
            .then_some(v)
    });
    assert!(
        view["rules"].as_array().is_some_and(|r| r.len() > 5),
        "view also has system:aggregate-to-view's rules"
    );
    s.create(
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata":{"name":"carol-views"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},
            "subjects":[{"kind":"User","name":"carol"}]}),
    );
    let ssar = |http: &Http, group: &str, resource: &str, verb: &str| -> bool {
        let body = json!({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",
            "spec":{"resourceAttributes":{"namespace":"default","group":group,"resource":resource,"verb":verb}}});
        let (code, b) = http.json(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            JSON,
            &body.to_string(),
        );
        assert_eq!(code, 201, "{b}");
        b["status"]["allowed"] == true
    };
    wait_for(10, "carol can view widgets", || {
        ssar(&carol, "example.com", "widgets", "list").then_some(())
    });
    assert!(ssar(&carol, "", "configmaps", "get"), "view's own rules");
    assert!(!ssar(&carol, "", "secrets", "get"), "view does not read secrets");
    assert!(!ssar(&carol, "example.com", "widgets", "delete"));
    // A SubjectAccessReview about someone else (admin may ask).
    let sar = json!({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
        "spec":{"user":"bob","resourceAttributes":{"namespace":"other","resource":"pods","verb":"list"}}});
    let (code, b) = s.as_user("admin-token").json(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        JSON,
        &sar.to_string(),
    );
    assert_eq!((code, &b["status"]["allowed"]), (201, &json!(false)), "{b}");
    assert_eq!(
        forbidden_message(&bob, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar.to_string()),
        "subjectaccessreviews.authorization.k8s.io is forbidden: User \"bob\" cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"
    );
    let (code, _) = s.api.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    assert_eq!(code, 405, "reviews are create-only");
    // TokenReview.
    let (code, tr) = s.as_user("admin-token").json(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        JSON,
        &json!({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"carol-token"}})
            .to_string(),
    );
    assert_eq!(code, 201, "{tr}");
    assert_eq!(tr["status"]["authenticated"], true);
    assert_eq!(tr["status"]["user"]["username"], "carol");
    assert_eq!(tr["status"]["user"]["groups"], json!(["devs", "system:authenticated"]));

    // Restart: a deleted default role comes back, one marked autoupdate=false is left alone.
    let patch = json!({"metadata":{"annotations":{"rbac.authorization.kubernetes.io/autoupdate":"false"}},"rules":[]});
    let (code, b) = s.api.json(
        "PATCH",
        &format!("{RBAC}/clusterroles/system:discovery"),
        MERGE,
        &patch.to_string(),
    );
    assert_eq!(code, 200, "{b}");
    let (code, b) = s.api.json(
        "PATCH",
        &format!("{RBAC}/clusterroles/system:public-info-viewer"),
        MERGE,
        &json!({"rules":[]}).to_string(),
    );
    assert_eq!(code, 200, "{b}");
    let (code, _) = s
        .api
        .json("DELETE", &format!("{RBAC}/clusterroles/system:basic-user"), JSON, "");
    assert_eq!(code, 200);
    drop(s);
    let s = Secure::start(&store, &["--controllers="]);
    let (code, _) = s.api.get(&format!("{RBAC}/clusterroles/system:basic-user"));
    assert_eq!(code, 200, "recreated");
    let (_, d) = s
        .api
        .json("GET", &format!("{RBAC}/clusterroles/system:discovery"), JSON, "");
    assert_eq!(d["rules"], json!([]), "autoupdate=false: left alone");
    let (_, p) = s.api.json(
        "GET",
        &format!("{RBAC}/clusterroles/system:public-info-viewer"),
        JSON,
        "",
    );
    assert_eq!(
        p["rules"],
        json!([{"verbs":["get"],"nonResourceURLs":["/healthz"]},{"verbs":["get"],"nonResourceURLs":["/livez"]},
               {"verbs":["get"],"nonResourceURLs":["/readyz"]},{"verbs":["get"],"nonResourceURLs":["/version"]},
               {"verbs":["get"],"nonResourceURLs":["/version/"]}]),
        "missing rules come back (as kube's atomic rules)"
    );
}

#[test]
fn node_authorizer_and_node_restriction() {
    let store = Store::start();
    let s = Secure::start(&store, &[]);
    let (node1, node2) = (s.as_user("node1-token"), s.as_user("node2-token"));
    for n in ["node1", "node2"] {
        s.create("/api/v1/nodes", json!({"metadata":{"name":n}}));
    }
    for sec in ["s1", "s2", "unused"] {
        s.create(
            "/api/v1/namespaces/default/secrets",
            json!({"metadata":{"name":sec},"data":{"k":"dg=="}}),
        );
    }
    s.create(
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata":{"name":"cm1"},"data":{"k":"v"}}),
    );
    let pod = |name: &str, node: &str, secret: &str| {
        json!({"metadata":{"name":name},"spec":{"nodeName":node,"automountServiceAccountToken":false,
            "containers":[{"name":"c","image":"busybox","envFrom":[{"configMapRef":{"name":"cm1"}}]}],
            "volumes":[{"name":"s","secret":{"secretName":secret}}]}})
    };
    s.create("/api/v1/namespaces/default/pods", pod("p1", "node1", "s1"));
    s.create("/api/v1/namespaces/default/pods", pod("p2", "node2", "s2"));

    wait_for(10, "node1 reads s1", || {
        (node1
            .request("GET", "/api/v1/namespaces/default/secrets/s1", JSON, "")
            .0
            == 200)
            .then_some(())
    });
    assert_eq!(
        forbidden_message(&node1, "GET", "/api/v1/namespaces/default/secrets/s2", ""),
        "secrets \"s2\" is forbidden: User \"system:node:node1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'node1' and this object"
    );
    assert_eq!(
        node2
            .request("GET", "/api/v1/namespaces/default/secrets/s2", JSON, "")
            .0,
        200
    );
    forbidden_message(&node1, "GET", "/api/v1/namespaces/default/secrets/unused", "");
    assert_eq!(
        node1
            .request(
                "GET",
                "/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Ds1",
                JSON,
                ""
            )
            .0,
        200,
        "a list naming one related secret"
    );
    forbidden_message(&node1, "GET", "/api/v1/namespaces/default/secrets", "");
    assert_eq!(
        node1
            .request("GET", "/api/v1/namespaces/default/configmaps/cm1", JSON, "")
            .0,
        200
    );
    // system:node's rules: list pods, read nodes, status of its own node.
    assert_eq!(
        node1
            .request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1", JSON, "")
            .0,
        200
    );
    let status = json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/nodes/node1/status",
        "application/strategic-merge-patch+json",
        &status.to_string(),
    );
    assert_eq!(code, 200, "{b}");

    // NodeRestriction: not another node, not restricted labels.
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/nodes/node2",
        MERGE,
        &json!({"metadata":{"labels":{"a":"b"}}}).to_string(),
    );
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["message"],
        "nodes \"node2\" is forbidden: node \"node1\" is not allowed to modify node \"node2\""
    );
    let (code, b) = node1.json("PATCH", "/api/v1/nodes/node2/status", MERGE, &status.to_string());
    assert_eq!(code, 403, "{b}");
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/nodes/node1",
        MERGE,
        &json!({"metadata":{"labels":{"node-restriction.kubernetes.io/pool":"a"}}}).to_string(),
    );
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["message"],
        "nodes \"node1\" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool"
    );
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/nodes/node1",
        MERGE,
        &json!({"metadata":{"labels":{"kubernetes.io/hostname":"node1"}}}).to_string(),
    );
    assert_eq!(code, 200, "{b}");
    // Pod status only for its own pods; leases only its own.
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/namespaces/default/pods/p2/status",
        MERGE,
        &json!({"status":{"phase":"Running"}}).to_string(),
    );
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["message"],
        "pods \"p2\" is forbidden: node \"node1\" can only update pod status for pods with spec.nodeName set to itself"
    );
    let (code, b) = node1.json(
        "PATCH",
        "/api/v1/namespaces/default/pods/p1/status",
        MERGE,
        &json!({"status":{"phase":"Running"}}).to_string(),
    );
    assert_eq!(code, 200, "{b}");
    let lease = |n: &str| json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":n},"spec":{"holderIdentity":n}});
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    assert_eq!(node1.json("POST", leases, JSON, &lease("node1").to_string()).0, 201);
    let (code, b) = node1.json("POST", leases, JSON, &lease("node2").to_string());
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["message"],
        "leases.coordination.k8s.io \"node2\" is forbidden: can only access node lease with the same name as the requesting node"
    );
    // A plain pod is refused; creating events is fine.
    let (code, b) = node1.json(
        "POST",
        "/api/v1/namespaces/default/pods",
        JSON,
        &json!({"metadata":{"name":"sneaky"},"spec":{"nodeName":"node1","containers":[{"name":"c","image":"x"}]}})
            .to_string(),
    );
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["message"],
        "pods \"sneaky\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" annotation, node \"node1\" can only create mirror pods"
    );
    let ev = json!({"metadata":{"name":"e1"},"involvedObject":{"kind":"Node","name":"node1"},"reason":"Test","message":"m","type":"Normal"});
    let (code, b) = node1.json("POST", "/api/v1/namespaces/default/events", JSON, &ev.to_string());
    assert_eq!(code, 201, "{b}");
}

#[test]
fn kubectl_auth_can_i_with_a_token_kubeconfig() {
    let store = Store::start();
    let s = Secure::start(&store, &[]);
    s.create(
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata":{"name":"bob-edits"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"},
            "subjects":[{"kind":"User","name":"bob"}]}),
    );
    s.create(
        &format!("{RBAC}/namespaces/default/roles"),
        json!({"metadata":{"name":"cm-reader"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]}),
    );
    s.create(
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata":{"name":"bob-cm"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"cm-reader"},
            "subjects":[{"kind":"User","name":"bob"}]}),
    );
    // A kubeconfig with a token, as `kubectl config set-credentials --token` writes it.
    let home = tempfile::tempdir().expect("home");
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: bob\n  user:\n    token: bob-token\ncontexts:\n- name: bob\n  context:\n    cluster: c\n    user: bob\n    namespace: default\ncurrent-context: bob\n",
            s.port
        ),
    )
    .expect("kubeconfig");
    let kubectl = |args: &[&str]| -> (bool, String) {
        let bin = std::env::var("APISERVER_TEST_KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
        let out = std::process::Command::new(bin)
            .env("HOME", home.path())
            .env("KUBECONFIG", &kubeconfig)
            .args(args)
            .output()
            .expect("kubectl");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success(), text)
    };
    // The edit role is aggregated without the controller here: bob's cm-reader decides.
    let (ok, out) = wait_for(10, "bob's bindings", || {
        let r = kubectl(&["auth", "can-i", "list", "configmaps"]);
        r.0.then_some(r)
    });
    assert_eq!((ok, out.as_str()), (true, "yes"));
    assert_eq!(
        kubectl(&["auth", "can-i", "delete", "configmaps"]),
        (false, "no".into())
    );
    assert_eq!(
        kubectl(&["auth", "can-i", "list", "configmaps", "-n", "kube-system"]),
        (false, "no".into())
    );
    assert_eq!(kubectl(&["auth", "can-i", "get", "/healthz"]), (true, "yes".into()));
    assert_eq!(kubectl(&["auth", "can-i", "get", "/metrics"]), (false, "no".into()));
    let (ok, list) = kubectl(&["auth", "can-i", "--list"]);
    assert!(ok, "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("configmaps ") && l.contains("[get list]")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io")),
        "{list}"
    );
    // kubectl itself, denied: its error is kube's message.
    let kc = Kubectl::with_args(
        &format!("https://127.0.0.1:{}", s.port),
        &["--token", "bob-token", "--insecure-skip-tls-verify"],
    );
    let out = kc.run(&["get", "secrets", "-n", "kube-system"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "secrets is forbidden: User \"bob\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = Kubectl::with_args(
        &format!("https://127.0.0.1:{}", s.port),
        &["--token", "admin-token", "--insecure-skip-tls-verify"],
    );
    assert_eq!(admin.ok(&["auth", "can-i", "delete", "nodes"]).trim(), "yes");
}
