//! ClusterIPs and NodePorts come from kube-apiserver's range bitmaps in the store
//! (`/registry/ranges/serviceips`, `/registry/ranges/servicenodeports`): unique across many
//! Services, a requested address or port that is taken is refused with kube's message, deleting
//! a Service frees what it held, and the stored RangeAllocation is kube's layout.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use base64::Engine;
use common::{ApiServer, Store};
use serde_json::{json, Value};

const JSON: &str = "application/json";

/// The bitmap stored at `key` (JSON storage in this test), as (range, bytes).
fn bitmap(store: &Store, key: &str) -> (String, Vec<u8>) {
    let kv = common::etcd_kv(&store.endpoint, key).expect("range allocation stored");
    let v: Value = serde_json::from_slice(&kv.value).expect("JSON RangeAllocation");
    assert_eq!(v["kind"], "RangeAllocation", "{v}");
    let data = base64::engine::general_purpose::STANDARD
        .decode(v["data"].as_str().unwrap_or(""))
        .expect("base64");
    (v["range"].as_str().unwrap_or("").to_string(), data)
}

fn bit(data: &[u8], i: usize) -> bool {
    let byte = i / 8;
    byte < data.len() && data[data.len() - 1 - byte] & (1 << (i % 8)) != 0
}

fn svc(name: &str, extra: Value) -> String {
    let mut s = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":name},
        "spec":{"ports":[{"port":80}]}});
    if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    s.to_string()
}

#[test]
fn cluster_ips_and_node_ports_come_from_the_shared_bitmaps() {
    let store = Store::start();
    let api = ApiServer::start_with(&store.endpoint, &["--service-cluster-ip-range", "10.96.0.0/12"]);
    let mut ips = HashSet::new();
    for i in 0..50 {
        let (code, s) = api.json(
            "POST",
            "/api/v1/namespaces/default/services",
            JSON,
            &svc(&format!("s{i}"), json!({})),
        );
        assert_eq!(code, 201, "{s}");
        let ip: Ipv4Addr = s["spec"]["clusterIP"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .expect("clusterIP");
        assert_eq!(
            u32::from(ip) >> 20,
            u32::from(Ipv4Addr::new(10, 96, 0, 0)) >> 20,
            "{ip} in 10.96.0.0/12"
        );
        assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert!(ips.insert(ip), "{ip} handed out twice");
    }
    let (range, data) = bitmap(&store, "/registry/ranges/serviceips");
    assert_eq!(range, "10.96.0.0/12");
    for ip in &ips {
        let off = (u32::from(*ip) - u32::from(Ipv4Addr::new(10, 96, 0, 1))) as usize;
        assert!(bit(&data, off), "{ip} not marked in the bitmap");
    }
    // A requested address: taken once, refused the second time with kube's message.
    let (code, s) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("fixed", json!({"clusterIP":"10.96.0.50"})),
    );
    assert_eq!(code, 201, "{s}");
    let (code, s) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("again", json!({"clusterIP":"10.96.0.50"})),
    );
    assert_eq!(code, 422, "{s}");
    assert_eq!(
        s["message"],
        r#"Service "again" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: failed to allocated ip:10.96.0.50 with error:provided IP is already allocated"#
    );
    let (code, s) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("out", json!({"clusterIP":"192.168.0.1"})),
    );
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"].as_str().is_some_and(
            |m| m.ends_with("provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12")
        ),
        "{s}"
    );
    // Deleting frees the address: it can be asked for again.
    let (code, _) = api.json("DELETE", "/api/v1/namespaces/default/services/fixed", JSON, "");
    assert_eq!(code, 200);
    let (_, data) = bitmap(&store, "/registry/ranges/serviceips");
    assert!(!bit(&data, 49), "10.96.0.50 still marked after its Service went");
    let (code, s) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("again", json!({"clusterIP":"10.96.0.50"})),
    );
    assert_eq!(code, 201, "{s}");
    // NodePorts.
    let (code, np) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("np", json!({"type":"NodePort"})),
    );
    assert_eq!(code, 201, "{np}");
    let port = np["spec"]["ports"][0]["nodePort"].as_u64().expect("nodePort");
    assert!((30000..=32767).contains(&port), "{port}");
    let (_, pdata) = bitmap(&store, "/registry/ranges/servicenodeports");
    assert!(bit(&pdata, (port - 30000) as usize));
    let taken = json!({"type":"NodePort","ports":[{"port":80,"nodePort":port}]});
    let (code, s) = api.json("POST", "/api/v1/namespaces/default/services", JSON, &svc("np2", taken));
    assert_eq!(code, 422, "{s}");
    assert_eq!(
        s["message"],
        format!(
            r#"Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"#
        )
    );
    // The refused Service gave back the ClusterIP it had taken first.
    let (_, after) = bitmap(&store, "/registry/ranges/serviceips");
    let marked = (0..(1 << 20)).filter(|i| bit(&after, *i)).count();
    assert_eq!(marked, 50 + 1 + 1, "50 services, 'again' and 'np'");
    // Headless and ExternalName services take nothing.
    let (code, h) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("headless", json!({"clusterIP":"None"})),
    );
    assert_eq!(code, 201, "{h}");
    assert_eq!(h["spec"]["clusterIP"], "None");
    // A restarted apiserver on a wiped bitmap marks what existing Services hold (repair).
    drop(api);
    delete_key(&store.endpoint, "/registry/ranges/serviceips");
    let api = ApiServer::start(&store.endpoint);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while common::etcd_kv(&store.endpoint, "/registry/ranges/serviceips").is_none() {
        assert!(std::time::Instant::now() < deadline, "no repair");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (_, repaired) = bitmap(&store, "/registry/ranges/serviceips");
    assert_eq!(
        (0..(1 << 20)).filter(|i| bit(&repaired, *i)).count(),
        52,
        "every held ClusterIP re-marked"
    );
    let (code, s) = api.json(
        "POST",
        "/api/v1/namespaces/default/services",
        JSON,
        &svc("third", json!({"clusterIP":"10.96.0.50"})),
    );
    assert_eq!(code, 422, "{s}");
}

fn delete_key(endpoint: &str, key: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = proto::etcdserverpb::kv_client::KvClient::connect(endpoint.to_string())
            .await
            .expect("etcd connect");
        c.delete_range(proto::etcdserverpb::DeleteRangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete");
    });
}
