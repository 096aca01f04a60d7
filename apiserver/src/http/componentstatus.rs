//! core/v1 componentstatuses (`kubectl get cs`, as in kube-apiserver 1.20): computed on each
//! request, never stored. The scheduler and controller-manager are probed on kube 1.20's
//! insecure healthz ports (127.0.0.1:10251 and :10252) unless they run in this process, and
//! every `--etcd-servers` member on `/health` (`{"health":"true"}` is healthy).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::encoding::{respond, Output};
use super::table::{table, Include};
use super::{AppState, Response};
use crate::error::{ApiError, Result};
use crate::registry::resources::ResourceInfo;

/// What this apiserver checks for componentstatuses.
#[derive(Debug, Clone, Default)]
pub struct Components {
    /// The scheduler runs in this process (healthy while we answer).
    pub scheduler_in_process: bool,
    /// Controllers run in this process.
    pub controllers_in_process: bool,
    /// `--etcd-servers`, in order (`etcd-0`, `etcd-1`, …).
    pub etcd_servers: Vec<String>,
}

/// kube's probe timeout is 20 s; a refused connection answers at once either way.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// (probe status, body, error) as kube's DoServerCheck: Unknown on a transport error,
/// False on a non-2xx answer or a failed validation.
async fn probe(url: &str, etcd: bool) -> (&'static str, String, String) {
    let client: HyperClient<_, Empty<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return ("Unknown", String::new(), format!("Get \"{url}\": {e}")),
    };
    let resp = match tokio::time::timeout(PROBE_TIMEOUT, client.get(uri)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return ("Unknown", String::new(), format!("Get \"{url}\": {e}")),
        Err(_) => {
            return (
                "Unknown",
                String::new(),
                format!("Get \"{url}\": context deadline exceeded"),
            )
        }
    };
    let code = resp.status();
    let body = match tokio::time::timeout(PROBE_TIMEOUT, resp.into_body().collect()).await {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        _ => String::new(),
    };
    if !code.is_success() {
        return ("False", body, String::new());
    }
    if etcd {
        let health = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("health").and_then(Value::as_str).map(String::from));
        match health.as_deref() {
            Some("true") => {}
            Some(h) => return ("False", body, format!("Unhealthy status: {h}")),
            None => return ("False", body, "unexpected end of JSON input".into()),
        }
    }
    ("True", body, String::new())
}

fn status(name: &str, (st, message, error): (&str, String, String)) -> Value {
    json!({
        "kind": "ComponentStatus", "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null},
        "conditions": [{"type": "Healthy", "status": st, "message": message, "error": error}],
    })
}

/// The component names, in kubectl's usual order.
fn names(c: &Components) -> Vec<String> {
    let mut out = vec!["scheduler".to_string(), "controller-manager".to_string()];
    out.extend((0..c.etcd_servers.len()).map(|i| format!("etcd-{i}")));
    out
}

async fn check(c: &Components, name: &str) -> Option<Value> {
    let in_process = ("True", "ok".to_string(), String::new());
    let r = match name {
        "scheduler" if c.scheduler_in_process => in_process,
        "controller-manager" if c.controllers_in_process => in_process,
        "scheduler" => probe("http://127.0.0.1:10251/healthz", false).await,
        "controller-manager" => probe("http://127.0.0.1:10252/healthz", false).await,
        other => {
            let i: usize = other.strip_prefix("etcd-")?.parse().ok()?;
            let base = c.etcd_servers.get(i)?.trim_end_matches('/');
            probe(&format!("{base}/health"), true).await
        }
    };
    Some(status(name, r))
}

/// get (`name`) or list; other verbs are not served.
pub async fn serve(
    state: &AppState,
    res: &ResourceInfo,
    verb: &str,
    name: Option<&str>,
    as_table: bool,
    include: Include,
    out: Output,
) -> Result<Response> {
    let c = &state.components;
    match (verb, name) {
        ("get", Some(n)) => {
            let obj = check(c, n)
                .await
                .ok_or_else(|| ApiError::Internal(format!("Component not found: {n}")))?;
            if as_table {
                return Ok(respond(200, &table(res, &[obj], json!({}), include, true), out));
            }
            Ok(respond(200, &obj, out))
        }
        ("list", None) => {
            let all = futures::future::join_all(names(c).into_iter().map(|n| async move { check(c, &n).await }))
                .await
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            if as_table {
                return Ok(respond(200, &table(res, &all, json!({}), include, true), out));
            }
            Ok(respond(
                200,
                &json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": all}),
                out,
            ))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_components_are_healthy_and_a_dead_port_is_unknown() {
        let c = Components {
            scheduler_in_process: true,
            controllers_in_process: false,
            etcd_servers: vec!["http://127.0.0.1:1".into()],
        };
        assert_eq!(names(&c), ["scheduler", "controller-manager", "etcd-0"]);
        let s = check(&c, "scheduler").await.expect("scheduler");
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["conditions"][0]["message"], "ok");
        let e = check(&c, "etcd-0").await.expect("etcd-0");
        assert_eq!(e["conditions"][0]["status"], "Unknown");
        assert!(
            e["conditions"][0]["error"]
                .as_str()
                .is_some_and(|m| m.starts_with("Get \"http://127.0.0.1:1/health\"")),
            "{e}"
        );
        assert!(check(&c, "etcd-7").await.is_none());
        assert!(check(&c, "nope").await.is_none());
    }
}
