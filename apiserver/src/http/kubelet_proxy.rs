//! pods/log, pods/exec, pods/attach and pods/portforward: proxied to the pod's kubelet
//! (`https://<node InternalIP>:<kubeletEndpoint port>`, its self-signed certificate not verified,
//! like kube-apiserver without --kubelet-certificate-authority). Upgrades (SPDY, WebSocket) are
//! spliced byte for byte once the kubelet answers 101.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{AppState, Body, Response};
use crate::error::{ApiError, Result};
use crate::registry::resources::find;

/// Is this a subresource we proxy?
pub fn is_proxied(resource: &str, sub: Option<&str>) -> bool {
    resource == "pods" && matches!(sub, Some("log" | "exec" | "attach" | "portforward"))
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The kubelet path for a pod subresource (query already decoded into pairs).
pub fn kubelet_path(sub: &str, ns: &str, pod_name: &str, pod: &Value, query: &str) -> Result<String> {
    let pairs: Vec<(String, String)> = url_pairs(query);
    let mut container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if container.is_empty() && sub != "portforward" {
        let names: Vec<&str> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| s(c, "/name"))
            .collect();
        match names.as_slice() {
            [one] => container = (*one).to_string(),
            many => {
                return Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    many.join(" ")
                )))
            }
        }
    }
    let enc = |x: &str| percent_encoding::utf8_percent_encode(x, percent_encoding::NON_ALPHANUMERIC).to_string();
    // exec/attach: the kubelet reads input/output/error/tty = "1" (core/v1 ExecStdinParam...;
    // kube-apiserver's ExecLocation converts PodExecOptions the same way).
    let streams = matches!(sub, "exec" | "attach");
    let rest: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "container")
        .filter_map(|(k, v)| {
            if streams && matches!(k.as_str(), "stdin" | "stdout" | "stderr" | "tty") {
                let param = match k.as_str() {
                    "stdin" => "input",
                    "stdout" => "output",
                    "stderr" => "error",
                    _ => "tty",
                };
                return matches!(v.as_str(), "true" | "1" | "True" | "TRUE").then(|| format!("{param}=1"));
            }
            Some(format!("{}={}", enc(k), enc(v)))
        })
        .collect();
    let q = if rest.is_empty() {
        String::new()
    } else {
        format!("?{}", rest.join("&"))
    };
    Ok(match sub {
        "log" => format!("/containerLogs/{ns}/{pod_name}/{container}{q}"),
        "exec" => format!("/exec/{ns}/{pod_name}/{container}{q}"),
        "attach" => format!("/attach/{ns}/{pod_name}/{container}{q}"),
        _ => format!("/portForward/{ns}/{pod_name}{q}"),
    })
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |x: &str| {
                percent_encoding::percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn client_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::tls::NoVerify::new(provider)))
        .with_no_client_auth();
    Ok(cfg)
}

/// A body that streams `incoming` and ends quietly on error.
fn stream_body(incoming: Incoming) -> Body {
    let stream = futures::stream::unfold(incoming, |mut b| async move {
        match b.frame().await {
            Some(Ok(f)) => Some((Ok::<_, Infallible>(f), b)),
            _ => None,
        }
    });
    StreamBody::new(stream).boxed()
}

/// Proxy one pod subresource request to the pod's kubelet.
pub async fn proxy(
    state: &AppState,
    ns: &str,
    pod_name: &str,
    sub: &str,
    mut req: http::Request<Incoming>,
) -> Result<Response> {
    let pods = find("", "v1", "pods").ok_or(ApiError::NoSuchResource)?;
    let nodes = find("", "v1", "nodes").ok_or(ApiError::NoSuchResource)?;
    let pod = state.store.get(pods, Some(ns), pod_name).await?;
    let node_name = s(&pod, "/spec/nodeName");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "pod {pod_name} does not have a host assigned"
        )));
    }
    let node = state.store.get(nodes, None, node_name).await?;
    let addrs = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ip = ["InternalIP", "Hostname", "ExternalIP"]
        .iter()
        .find_map(|t| {
            addrs
                .iter()
                .find(|a| s(a, "/type") == *t)
                .map(|a| s(a, "/address").to_string())
        })
        .ok_or_else(|| ApiError::BadRequest(format!("node {node_name} has no address")))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .unwrap_or(10250);
    let path = kubelet_path(sub, ns, pod_name, &pod, req.uri().query().unwrap_or(""))?;
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable(format!("error dialing backend: {e}"));
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect((ip.as_str(), port as u16)),
    )
    .await
    .map_err(|e| unavailable(&e))?
    .map_err(|e| unavailable(&e))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config()?));
    let server_name = rustls::pki_types::ServerName::try_from(ip.clone()).map_err(|e| unavailable(&e))?;
    let tls = connector.connect(server_name, tcp).await.map_err(|e| unavailable(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unavailable(&e))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });

    let client_upgrade = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    let mut out = http::Request::builder()
        .method(parts.method.clone())
        .uri(path)
        .header(http::header::HOST, format!("{ip}:{port}"));
    for (k, v) in parts.headers.iter() {
        if k == http::header::HOST || k == http::header::AUTHORIZATION {
            continue;
        }
        out = out.header(k, v);
    }
    let out = out.body(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = sender.send_request(out).await.map_err(|e| unavailable(&e))?;
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match (client_upgrade.await, backend_upgrade.await) {
                (Ok(c), Ok(b)) => {
                    let mut c = TokioIo::new(c);
                    let mut b = TokioIo::new(b);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                }
                (c, b) => tracing::debug!(client = c.is_ok(), backend = b.is_ok(), "upgrade failed"),
            }
        });
    }
    let (rparts, rbody) = resp.into_parts();
    Ok(http::Response::from_parts(rparts, stream_body(rbody)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubelet_paths() {
        let pod = json!({"spec":{"containers":[{"name":"c"}]}});
        assert_eq!(
            kubelet_path("log", "ns", "p", &pod, "follow=true").expect("path"),
            "/containerLogs/ns/p/c?follow=true"
        );
        assert_eq!(
            kubelet_path(
                "exec",
                "ns",
                "p",
                &pod,
                "command=ls&command=-l&container=x&stdout=true&stdin=false"
            )
            .expect("path"),
            "/exec/ns/p/x?command=ls&command=%2Dl&output=1"
        );
        assert_eq!(
            kubelet_path("portforward", "ns", "p", &pod, "").expect("path"),
            "/portForward/ns/p"
        );
        let two = json!({"spec":{"containers":[{"name":"a"},{"name":"b"}]}});
        assert!(kubelet_path("log", "ns", "p", &two, "").is_err());
    }
}
