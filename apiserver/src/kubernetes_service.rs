//! The `kubernetes` Service in `default` (ClusterIP 10.96.0.1:443) and its Endpoints and
//! EndpointSlice pointing at this server's secure port, kept in place like kube-apiserver's
//! master endpoint reconciler (over the HTTP API, every 10 s).

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::Client;

pub const CLUSTER_IP: &str = "10.96.0.1";

/// The three objects (Service, Endpoints, EndpointSlice).
pub fn objects(ip: IpAddr, port: u16) -> (Value, Value, Value) {
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    });
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": ip.to_string()}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": if ip.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    (svc, ep, slice)
}

async fn ensure(c: &Client, list_path: &str, want: &Value, fields: &[&str]) -> crate::client::Result<()> {
    let path = format!("{list_path}/kubernetes");
    match c.get(&path).await {
        Ok(mut have) => {
            if fields.iter().all(|f| have.get(*f) == want.get(*f)) {
                return Ok(());
            }
            for f in fields {
                have[*f] = want[*f].clone();
            }
            c.update(&path, &have).await.map(|_| ())
        }
        Err(e) if e.is_not_found() => c.create(list_path, want).await.map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Keep the objects in place forever.
pub async fn run(c: Client, ip: IpAddr, port: u16) {
    let (svc, ep, slice) = objects(ip, port);
    loop {
        let r = async {
            if let Err(e) = c.get("/api/v1/namespaces/default/services/kubernetes").await {
                if e.is_not_found() {
                    c.create("/api/v1/namespaces/default/services", &svc).await?;
                }
            }
            ensure(&c, "/api/v1/namespaces/default/endpoints", &ep, &["subsets"]).await?;
            ensure(
                &c,
                "/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices",
                &slice,
                &["endpoints", "ports"],
            )
            .await
        }
        .await;
        let wait = match r {
            Ok(()) => Duration::from_secs(10),
            Err(e) => {
                tracing::debug!(error = %e, "kubernetes service not reconciled yet");
                Duration::from_secs(1)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_objects() {
        let (svc, ep, slice) = objects("10.213.0.1".parse().expect("ip"), 6443);
        assert_eq!(svc["spec"]["clusterIP"], CLUSTER_IP);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 6443);
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "10.213.0.1");
        assert_eq!(slice["endpoints"][0]["addresses"][0], "10.213.0.1");
    }
}
