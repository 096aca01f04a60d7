//! HTTP on the client port, beside gRPC: `/version`, `/health`, `/livez`, `/readyz`,
//! `/metrics`, with etcd's bodies and status codes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proto::etcdserverpb::AlarmType;

use crate::apply::txn;
use crate::config::{ETCD_CLUSTER_VERSION, ETCD_VERSION};
use crate::member::Member;
use crate::mvcc::KeyRange;

pub fn routes(member: Arc<Member>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(member)
}

fn json(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn version() -> Response {
    json(
        StatusCode::OK,
        format!(r#"{{"etcdserver":"{ETCD_VERSION}","etcdcluster":"{ETCD_CLUSTER_VERSION}"}}"#),
    )
}

/// etcd's health checks: alarms (minus `?exclude=`), a leader, and a range read
/// (serializable with `?serializable=true`).
async fn check(m: &Arc<Member>, q: &HashMap<String, String>) -> Result<(), String> {
    let excluded: Vec<&str> = q.get("exclude").map(|e| e.split(',').collect()).unwrap_or_default();
    for a in m.alarms.list() {
        let name = if a.alarm == AlarmType::Nospace as i32 {
            "NOSPACE"
        } else {
            "CORRUPT"
        };
        if !excluded.contains(&name) {
            return Err(format!("ALARM {name}"));
        }
    }
    if !m.has_leader() {
        return Err("RAFT NO LEADER".into());
    }
    let serializable = q.get("serializable").map(|v| v == "true").unwrap_or(false);
    if !serializable {
        m.linearizable_barrier().await.map_err(|e| format!("RANGE ERROR:{e}"))?;
    }
    let req = proto::etcdserverpb::RangeRequest {
        key: b"health".to_vec(),
        keys_only: true,
        limit: 1,
        ..Default::default()
    };
    m.read(move |s| {
        let _ = KeyRange::new(&req.key, &req.range_end);
        txn::range(s, &req)
    })
    .await
    .map(|_| ())
    .map_err(|e| format!("RANGE ERROR:{e}"))
}

async fn health(State(m): State<Arc<Member>>, Query(q): Query<HashMap<String, String>>) -> Response {
    match check(&m, &q).await {
        Ok(()) => {
            m.metrics.health_success.inc();
            json(StatusCode::OK, r#"{"health":"true","reason":""}"#.into())
        }
        Err(reason) => {
            m.metrics.health_failures.inc();
            tracing::warn!(%reason, "serving /health false");
            let body = serde_json::json!({"health": "false", "reason": reason}).to_string();
            json(StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }
}

async fn probe(m: &Arc<Member>, q: &HashMap<String, String>, linearizable: bool) -> Response {
    let verbose = q.contains_key("verbose");
    let mut lines = Vec::new();
    let mut ok = true;
    let ser = check(m, &HashMap::from([("serializable".to_string(), "true".to_string())])).await;
    lines.push(match &ser {
        Ok(()) => "[+]serializable_read ok".to_string(),
        Err(e) => format!("[-]serializable_read failed: {e}"),
    });
    ok &= ser.is_ok();
    if linearizable {
        let lin = check(m, &HashMap::new()).await;
        lines.push(match &lin {
            Ok(()) => "[+]linearizable_read ok".to_string(),
            Err(e) => format!("[-]linearizable_read failed: {e}"),
        });
        ok &= lin.is_ok();
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = if ok && !verbose {
        "ok\n".to_string()
    } else {
        format!("{}\n{}\n", lines.join("\n"), if ok { "ok" } else { "check failed" })
    };
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn livez(State(m): State<Arc<Member>>, Query(q): Query<HashMap<String, String>>) -> Response {
    probe(&m, &q, false).await
}

async fn readyz(State(m): State<Arc<Member>>, Query(q): Query<HashMap<String, String>>) -> Response {
    probe(&m, &q, true).await
}

async fn metrics(State(m): State<Arc<Member>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        m.metrics.render(),
    )
        .into_response()
}
