//! `application/vnd.kubernetes.protobuf` responses: every built-in kind's list and objects,
//! paging, watch frames (ADDED/MODIFIED/DELETED/BOOKMARK), Status errors and negotiation,
//! decoded with the crate's own decoder and checked against the JSON answers; and (SKIP
//! without the cached binary) byte-for-byte against a stock kube-apiserver 1.20.2 on one store.

mod common;

use std::io::Read;
use std::net::Shutdown;

use apiserver::storage::protobuf::decode_envelope;
use common::{stock_kube_apiserver, ApiServer, Http, StockApiServer, Store};
use serde_json::{json, Value};

const PB: &str = "application/vnd.kubernetes.protobuf";
const PB_JSON: &str = "application/vnd.kubernetes.protobuf, application/json";

fn get_pb(h: &Http, path: &str) -> (u16, String, Vec<u8>) {
    h.raw("GET", path, PB_JSON, "application/json", b"")
}

fn get_json(h: &Http, path: &str) -> (u16, Value) {
    let (code, ct, body) = h.raw("GET", path, "application/json", "application/json", b"");
    assert!(ct.starts_with("application/json"), "{path}: {ct}");
    (
        code,
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

/// `decoded` (from protobuf) says what `json` says: every JSON field is there with the same
/// value; fields only the protobuf form has are Go zero values (non-pointer structs and
/// fields without `omitempty` that our JSON leaves out).
fn assert_covers(decoded: &Value, json: &Value, at: &str) {
    match (decoded, json) {
        (Value::Object(d), Value::Object(j)) => {
            for (k, jv) in j {
                match d.get(k) {
                    Some(dv) => assert_covers(dv, jv, &format!("{at}.{k}")),
                    None => assert!(is_zero(jv), "{at}.{k}: {jv} missing from the protobuf answer"),
                }
            }
            for (k, dv) in d {
                if !j.contains_key(k) {
                    assert!(is_zero(dv), "{at}.{k}: {dv} only in the protobuf answer");
                }
            }
        }
        (Value::Array(d), Value::Array(j)) => {
            assert_eq!(d.len(), j.len(), "{at}: lengths");
            for (i, (dv, jv)) in d.iter().zip(j).enumerate() {
                assert_covers(dv, jv, &format!("{at}[{i}]"));
            }
        }
        (d, j) => assert_eq!(d, j, "{at}"),
    }
}

/// List items in JSON carry apiVersion/kind; in protobuf they are typed (no TypeMeta).
fn strip_item_types(list: &mut Value) {
    if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
        for it in items {
            if let Some(m) = it.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
        }
    }
}

fn create(api: &ApiServer, path: &str, body: Value) -> Value {
    let (code, v) = api.json("POST", path, "application/json", &body.to_string());
    assert_eq!(code, 201, "POST {path}: {v}");
    v
}

/// Objects of many built-in kinds besides what the apiserver creates at start.
fn fixtures(api: &ApiServer) {
    let ns = "/api/v1/namespaces/pbw";
    create(
        api,
        "/api/v1/namespaces",
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"pbw"}}),
    );
    let pod_spec = json!({"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}],
        "resources":{"limits":{"cpu":"500m","memory":"64Mi"}},
        "readinessProbe":{"httpGet":{"path":"/","port":80},"periodSeconds":5}}]});
    let tmpl = json!({"metadata":{"labels":{"app":"w"}},"spec":pod_spec});
    let sel = json!({"matchLabels":{"app":"w"}});
    for (path, body) in [
        (
            format!("{ns}/pods"),
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"w"}},"spec":pod_spec}),
        ),
        (
            format!("{ns}/configmaps"),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"1"}}),
        ),
        (
            format!("{ns}/secrets"),
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"dmFsdWU="},"type":"Opaque"}),
        ),
        (
            format!("{ns}/services"),
            json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"selector":{"app":"w"},"ports":[{"port":80,"targetPort":"http"}]}}),
        ),
        (
            format!("{ns}/serviceaccounts"),
            json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa"}}),
        ),
        (
            format!("{ns}/limitranges"),
            json!({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr"},"spec":{"limits":[{"type":"Container","max":{"cpu":"2"}}]}}),
        ),
        (
            format!("{ns}/resourcequotas"),
            json!({"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"rq"},"spec":{"hard":{"pods":"100"}}}),
        ),
        (
            format!("{ns}/persistentvolumeclaims"),
            json!({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"pvc"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}),
        ),
        (
            format!("{ns}/events"),
            json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"ev"},"involvedObject":{"kind":"Pod","name":"p","namespace":"pbw"},"reason":"R","message":"m","count":1,"type":"Normal"}),
        ),
        (
            "/api/v1/nodes".into(),
            json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"a":"b"}},"spec":{"podCIDR":"10.244.0.0/24"}}),
        ),
        (
            "/api/v1/persistentvolumes".into(),
            json!({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/tmp/x"}}}),
        ),
        (
            "/apis/apps/v1/namespaces/pbw/deployments".into(),
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":0,"selector":sel,"template":tmpl}}),
        ),
        (
            "/apis/apps/v1/namespaces/pbw/replicasets".into(),
            json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs"},"spec":{"replicas":0,"selector":sel,"template":tmpl}}),
        ),
        (
            "/apis/apps/v1/namespaces/pbw/statefulsets".into(),
            json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"ss"},"spec":{"replicas":0,"serviceName":"svc","selector":sel,"template":tmpl}}),
        ),
        (
            "/apis/apps/v1/namespaces/pbw/daemonsets".into(),
            json!({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds"},"spec":{"selector":sel,"template":tmpl}}),
        ),
        (
            "/apis/batch/v1/namespaces/pbw/jobs".into(),
            json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}),
        ),
        (
            "/apis/batch/v1beta1/namespaces/pbw/cronjobs".into(),
            json!({"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"cj"},"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/pbw/leases".into(),
            json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"holderIdentity":"h","leaseDurationSeconds":15,"renewTime":"2024-01-02T03:04:05.123456Z"}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/pbw/roles".into(),
            json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/pbw/rolebindings".into(),
            json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"rb"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},"subjects":[{"kind":"User","name":"u"}]}),
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/pbw/networkpolicies".into(),
            json!({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"np"},"spec":{"podSelector":{},"ingress":[{"ports":[{"port":80}]}]}}),
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/pbw/ingresses".into(),
            json!({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"ing"},"spec":{"defaultBackend":{"service":{"name":"svc","port":{"number":80}}}}}),
        ),
        (
            "/apis/policy/v1beta1/namespaces/pbw/poddisruptionbudgets".into(),
            json!({"apiVersion":"policy/v1beta1","kind":"PodDisruptionBudget","metadata":{"name":"pdb"},"spec":{"minAvailable":1,"selector":sel}}),
        ),
        (
            "/apis/scheduling.k8s.io/v1/priorityclasses".into(),
            json!({"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"pc"},"value":1000}),
        ),
        (
            "/apis/storage.k8s.io/v1/storageclasses".into(),
            json!({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"sc"},"provisioner":"x"}),
        ),
    ] {
        let (code, v) = api.json("POST", &path, "application/json", &body.to_string());
        // A kind this server does not serve is skipped (the list walk below covers the rest).
        assert!(code == 201 || code == 404, "POST {path}: {code} {v}");
    }
}

/// Every built-in list (and each of its items) in protobuf says what its JSON says; kinds
/// without a schema row (and custom resources) answer JSON although protobuf came first.
#[test]
fn every_builtin_kind_in_protobuf_matches_json() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    fixtures(&api);
    let mut groups = vec!["/api/v1".to_string()];
    let (_, apis) = get_json(&api.http, "/apis");
    for g in apis["groups"].as_array().into_iter().flatten() {
        for v in g["versions"].as_array().into_iter().flatten() {
            groups.push(format!("/apis/{}", v["groupVersion"].as_str().unwrap_or("")));
        }
    }
    let (mut pb_kinds, mut json_kinds, mut objects) = (0, 0, 0);
    for gv in groups {
        let (_, rl) = get_json(&api.http, &gv);
        for r in rl["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or("");
            let lists = r["verbs"].as_array().is_some_and(|v| v.iter().any(|x| x == "list"));
            // componentstatuses are computed per request: no resourceVersion, as in kube.
            if name.contains('/') || !lists || name == "componentstatuses" {
                continue;
            }
            let path = format!("{gv}/{name}");
            let (code, ct, body) = get_pb(&api.http, &path);
            assert_eq!(code, 200, "{path}");
            let (_, mut want) = get_json(&api.http, &path);
            if ct != PB {
                assert!(ct.starts_with("application/json"), "{path}: {ct}");
                json_kinds += 1;
                continue;
            }
            pb_kinds += 1;
            let mut got = decode_envelope(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(got["kind"], want["kind"], "{path}");
            assert_eq!(got["apiVersion"], want["apiVersion"], "{path}");
            // Two reads: the revision may have moved in between.
            for l in [&mut got, &mut want] {
                assert!(
                    l.pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|rv| rv.parse::<u64>().is_ok()),
                    "{path}"
                );
                l["metadata"]["resourceVersion"] = json!("");
            }
            strip_item_types(&mut want);
            assert_covers(&got, &want, &path);
            // Each object on its own (get).
            for item in want["items"].as_array().into_iter().flatten().take(3) {
                let n = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                let ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
                let one = match ns {
                    Some(ns) if gv == "/api/v1" => format!("/api/v1/namespaces/{ns}/{name}/{n}"),
                    Some(ns) => format!("{gv}/namespaces/{ns}/{name}/{n}"),
                    None => format!("{path}/{n}"),
                };
                let (code, ct, body) = get_pb(&api.http, &one);
                assert_eq!((code, ct.as_str()), (200, PB), "{one}");
                let got = decode_envelope(&body).unwrap_or_else(|e| panic!("{one}: {e}"));
                let (_, want) = get_json(&api.http, &one);
                assert_covers(&got, &want, &one);
                objects += 1;
            }
        }
    }
    assert!(pb_kinds >= 30, "only {pb_kinds} kinds answered in protobuf");
    assert!(json_kinds >= 1, "a kind without a schema row answers JSON");
    assert!(objects >= 40, "only {objects} objects compared");
}

/// Pages of a protobuf list carry ListMeta.continue and remainingItemCount.
#[test]
fn protobuf_list_with_continue() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    create(
        &api,
        "/api/v1/namespaces",
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"pg"}}),
    );
    for i in 0..5 {
        create(
            &api,
            "/api/v1/namespaces/pg/configmaps",
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":format!("c{i}")},"data":{"i":i.to_string()}}),
        );
    }
    let mut path = "/api/v1/namespaces/pg/configmaps?limit=2".to_string();
    let mut names = Vec::new();
    for page in 0..3 {
        let (code, ct, body) = get_pb(&api.http, &path);
        assert_eq!((code, ct.as_str()), (200, PB));
        let got = decode_envelope(&body).expect("decode page");
        assert_eq!(got["kind"], "ConfigMapList");
        let (_, mut want) = get_json(&api.http, &path);
        strip_item_types(&mut want);
        let cont = got
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if page < 2 {
            assert!(!cont.is_empty(), "page {page}: {got}");
            assert_eq!(
                got["metadata"]["remainingItemCount"],
                json!(3 - 2 * page),
                "page {page}"
            );
        } else {
            assert!(
                cont.is_empty() && got["metadata"].get("remainingItemCount").is_none(),
                "{got}"
            );
        }
        // The continue token embeds the same revision, so both answers are equal.
        assert_covers(&got, &want, &path);
        for it in got["items"].as_array().into_iter().flatten() {
            names.push(it["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
        path = format!("/api/v1/namespaces/pg/configmaps?limit=2&continue={cont}");
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
}

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = b[*pos];
        *pos += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Length-delimited fields of a message as (number, bytes).
fn fields(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let tag = varint(b, &mut pos);
        assert_eq!(tag & 7, 2, "only length-delimited fields expected");
        let n = varint(b, &mut pos) as usize;
        out.push((tag >> 3, b[pos..pos + n].to_vec()));
        pos += n;
    }
    out
}

/// One frame of a protobuf watch: (type, object, the frame's bytes).
fn read_frame(r: &mut dyn Read) -> Option<(String, Value, Vec<u8>)> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).ok()?;
    let mut ev = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut ev).ok()?;
    assert!(!ev.starts_with(b"k8s\0"), "a WatchEvent frame is not enveloped");
    let f = fields(&ev);
    assert_eq!(f.len(), 2, "WatchEvent{{type, object}}");
    let ty = String::from_utf8(f[0].1.clone()).expect("type");
    let raw = fields(&f[1].1);
    assert_eq!(raw[0].0, 1, "RawExtension.raw");
    let obj = decode_envelope(&raw[0].1).expect("enveloped object");
    let mut frame = len.to_vec();
    frame.extend_from_slice(&ev);
    Some((ty, obj, frame))
}

/// A protobuf watch: ADDED, MODIFIED, DELETED and BOOKMARK frames, each object as the JSON
/// answers of the writes say.
#[test]
fn protobuf_watch_frames() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--watch-bookmark-interval-seconds", "1"]);
    create(
        &api,
        "/api/v1/namespaces",
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"wt"}}),
    );
    let (code, ct, mut body, sock) = api.http.raw_watch(
        "/api/v1/namespaces/wt/configmaps?watch=1&allowWatchBookmarks=true",
        "application/vnd.kubernetes.protobuf;stream=watch, application/json;stream=watch",
    );
    assert_eq!(
        (code, ct.as_str()),
        (200, "application/vnd.kubernetes.protobuf;stream=watch")
    );
    let created = create(
        &api,
        "/api/v1/namespaces/wt/configmaps",
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"data":{"a":"1"}}),
    );
    let mut upd = created.clone();
    upd["data"]["a"] = json!("2");
    let (c, updated) = api.json(
        "PUT",
        "/api/v1/namespaces/wt/configmaps/w",
        "application/json",
        &upd.to_string(),
    );
    assert_eq!(c, 200);
    let (c, deleted) = api.json("DELETE", "/api/v1/namespaces/wt/configmaps/w", "application/json", "");
    assert_eq!(c, 200);
    let mut seen = Vec::new();
    let mut bookmark = None;
    while seen.len() < 3 || bookmark.is_none() {
        let (ty, obj, _) = read_frame(body.as_mut()).expect("frame");
        if ty == "BOOKMARK" {
            assert_eq!(obj["kind"], "ConfigMap");
            bookmark = obj.pointer("/metadata/resourceVersion").cloned();
            continue;
        }
        seen.push((ty, obj));
    }
    let _ = sock.shutdown(Shutdown::Both);
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    for ((_, got), want) in seen.iter().zip([&created, &updated, &deleted]) {
        assert_covers(got, want, "event");
    }
    assert!(bookmark
        .and_then(|b| b.as_str().map(String::from))
        .is_some_and(|b| b.parse::<u64>().is_ok()));
}

/// Errors are protobuf Status objects when protobuf was asked for; negotiation failures are
/// 406 in JSON with kube's message; Tables are never protobuf.
#[test]
fn protobuf_status_and_negotiation() {
    let store = Store::start();
    let api = ApiServer::start(&store.endpoint);
    let path = "/api/v1/namespaces/default/pods/nope";
    let (code, ct, body) = get_pb(&api.http, path);
    assert_eq!((code, ct.as_str()), (404, PB));
    let got = decode_envelope(&body).expect("status");
    let (c, want) = get_json(&api.http, path);
    assert_eq!(c, 404);
    assert_eq!(got["kind"], "Status");
    assert_eq!(got["apiVersion"], "v1");
    assert_covers(&got, &want, "status");
    assert_eq!(got["details"], json!({"name":"nope","kind":"pods"}));

    let (code, ct, body) = api
        .http
        .raw("GET", "/api/v1/pods", "text/html", "application/json", b"");
    assert_eq!((code, ct.as_str()), (406, "application/json"));
    let st: Value = serde_json::from_slice(&body).expect("json status");
    assert_eq!(st["reason"], "NotAcceptable");
    assert_eq!(
        st["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let table_pb = "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1";
    let (code, _, _) = api
        .http
        .raw("GET", "/api/v1/namespaces", table_pb, "application/json", b"");
    assert_eq!(code, 406);
    let (code, ct, body) = api.http.raw(
        "GET",
        "/api/v1/namespaces",
        &format!("{table_pb},application/json"),
        "application/json",
        b"",
    );
    assert_eq!((code, ct.as_str()), (200, "application/json"));
    let l: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(l["kind"], "NamespaceList", "the protobuf Table clause is skipped");
    let (code, _, _) = api.http.raw(
        "GET",
        "/api/v1/namespaces?watch=1&timeoutSeconds=1",
        "application/yaml",
        "application/json",
        b"",
    );
    assert_eq!(code, 406, "no YAML watch stream");
    // A protobuf request body, answered in protobuf.
    let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fromproto"},"data":{"x":"y"}});
    let req = apiserver::storage::protobuf::encode_envelope(&cm)
        .expect("encode")
        .expect("schema");
    let (code, ct, body) = api
        .http
        .raw("POST", "/api/v1/namespaces/default/configmaps", PB, PB, &req);
    assert_eq!((code, ct.as_str()), (201, PB));
    let got = decode_envelope(&body).expect("created");
    assert_eq!(got["data"], json!({"x":"y"}));
    let (_, want) = get_json(&api.http, "/api/v1/namespaces/default/configmaps/fromproto");
    assert_covers(&got, &want, "created");
}

/// The same stored objects read through a stock kube-apiserver 1.20.2 and through ours in
/// protobuf are the same bytes: a Pod (get), a PodList, a watch event.
#[test]
fn protobuf_bytes_equal_stock() {
    let Some(bin) = stock_kube_apiserver() else {
        eprintln!("SKIP: no stock kube-apiserver binary cached");
        return;
    };
    let store = Store::start();
    let stock = StockApiServer::start(&bin, &store.endpoint);
    let ours = ApiServer::start(&store.endpoint);
    let s = &stock.http;
    let (c, _) = s.json(
        "POST",
        "/api/v1/namespaces",
        "application/json",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bx"}}"#,
    );
    assert_eq!(c, 201);
    for n in ["a", "b"] {
        let pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":n,"labels":{"app":"x"},"annotations":{"k":"v"}},
            "spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80,"name":"http"}],
                "resources":{"requests":{"cpu":"100m"}},"env":[{"name":"A","value":"1"}],
                "livenessProbe":{"httpGet":{"path":"/","port":"http"}}}]}});
        let (c, v) = s.json(
            "POST",
            "/api/v1/namespaces/bx/pods",
            "application/json",
            &pod.to_string(),
        );
        assert_eq!(c, 201, "{v}");
    }
    let compare = |path: &str, code: u16| {
        let (c1, ct1, b1) = get_pb(s, path);
        let (c2, ct2, b2) = get_pb(&ours.http, path);
        assert_eq!((c1, ct1.as_str()), (code, PB), "stock {path}");
        assert_eq!((c2, ct2.as_str()), (code, PB), "ours {path}");
        if b1 != b2 {
            let first = b1
                .iter()
                .zip(&b2)
                .position(|(x, y)| x != y)
                .unwrap_or(b1.len().min(b2.len()));
            panic!(
                "{path}: bytes differ at {first} (stock {} bytes, ours {})\nstock: {:?}\nours:  {:?}",
                b1.len(),
                b2.len(),
                String::from_utf8_lossy(&b1[first.saturating_sub(40)..(first + 40).min(b1.len())]),
                String::from_utf8_lossy(&b2[first.saturating_sub(40)..(first + 40).min(b2.len())]),
            );
        }
    };
    compare("/api/v1/namespaces/bx/pods/a", 200);
    let (_, l) = get_json(s, "/api/v1/namespaces/bx/pods");
    let rv = l["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
    compare(
        &format!("/api/v1/namespaces/bx/pods?resourceVersion={rv}&resourceVersionMatch=Exact"),
        200,
    );
    compare("/api/v1/namespaces/bx/services/nope", 404);

    // One MODIFIED event through both watches.
    let (_, a) = get_json(s, "/api/v1/namespaces/bx/pods/a");
    let arv = a["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
    let wpath = format!("/api/v1/namespaces/bx/pods?watch=1&fieldSelector=metadata.name%3Da&resourceVersion={arv}");
    let accept = "application/vnd.kubernetes.protobuf;stream=watch";
    let (c1, _, mut w1, s1) = s.raw_watch(&wpath, accept);
    let (c2, ct2, mut w2, s2) = ours.http.raw_watch(&wpath, accept);
    assert_eq!(
        (c1, c2, ct2.as_str()),
        (200, 200, "application/vnd.kubernetes.protobuf;stream=watch")
    );
    let patch = r#"{"metadata":{"labels":{"app":"y"}}}"#;
    let (c, _) = s.request(
        "PATCH",
        "/api/v1/namespaces/bx/pods/a",
        "application/merge-patch+json",
        patch,
    );
    assert_eq!(c, 200);
    let (t1, _, f1) = read_frame(w1.as_mut()).expect("stock frame");
    let (t2, _, f2) = read_frame(w2.as_mut()).expect("our frame");
    let _ = (s1.shutdown(Shutdown::Both), s2.shutdown(Shutdown::Both));
    assert_eq!((t1.as_str(), t2.as_str()), ("MODIFIED", "MODIFIED"));
    assert_eq!(f1, f2, "watch frames differ");
}
