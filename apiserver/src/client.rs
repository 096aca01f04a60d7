//! A small JSON client of the Kubernetes HTTP API (hyper, HTTPS through rustls), used by the
//! scheduler and controllers so that they never touch the store directly and run against any
//! API server: in-process over the insecure loopback port, or from a kubeconfig.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An API error: HTTP code plus the Status message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ClientError {
    pub code: u16,
    pub message: String,
}

impl ClientError {
    fn transport(e: impl std::fmt::Display) -> Self {
        Self {
            code: 0,
            message: e.to_string(),
        }
    }
    /// The error of a non-2xx answer: its Status message, or the body as text.
    fn from_status(code: u16, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        Self { code, message }
    }
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }
    pub fn is_conflict(&self) -> bool {
        self.code == 409
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// API client of one server.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    user_agent: String,
    /// `Authorization` header value.
    authorization: Option<String>,
}

impl Client {
    /// A plain-HTTP client; `base` like `http://127.0.0.1:8080`.
    pub fn new(base: &str, user_agent: &str) -> Self {
        Self::connect(&crate::kubeconfig::Connection::plain(base), user_agent)
    }

    /// A client of `conn` (http or https, with its bearer token and client certificate).
    pub fn connect(conn: &crate::kubeconfig::Connection, user_agent: &str) -> Self {
        let tls = match &conn.tls {
            Some(t) => (**t).clone(),
            // Plain http only (an https connection carries its own config). ring supports
            // the default protocol versions, so building this cannot fail.
            None => rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            base: conn.server.clone(),
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            user_agent: user_agent.to_string(),
            authorization: conn.token.as_ref().map(|t| format!("Bearer {t}")),
        }
    }

    /// Sends one request (30 s to the response head); the body is left to the caller.
    async fn send(
        &self,
        method: http::Method,
        uri: String,
        ct: &str,
        body: Vec<u8>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::CONTENT_TYPE, ct)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, &self.user_agent);
        if let Some(a) = &self.authorization {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(ClientError::transport)?;
        tokio::time::timeout(std::time::Duration::from_secs(30), self.http.request(req))
            .await
            .map_err(ClientError::transport)?
            .map_err(ClientError::transport)
    }

    /// One request; returns the decoded JSON body of a 2xx answer.
    pub async fn request(&self, method: http::Method, path: &str, body: Option<&Value>, ct: &str) -> Result<Value> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(ClientError::transport)?,
            None => Vec::new(),
        };
        let resp = self.send(method, format!("{}{}", self.base, path), ct, bytes).await?;
        let code = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(ClientError::transport)?
            .to_bytes();
        if (200..300).contains(&code) {
            Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
        } else {
            Err(ClientError::from_status(code, &body))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.request(http::Method::GET, path, None, "application/json").await
    }

    /// The items of a list.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>> {
        let v = self.get(path).await?;
        Ok(match v.get("items") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        })
    }

    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value> {
        self.request(http::Method::POST, path, Some(obj), "application/json")
            .await
    }

    pub async fn update(&self, path: &str, obj: &Value) -> Result<Value> {
        self.request(http::Method::PUT, path, Some(obj), "application/json")
            .await
    }

    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value> {
        self.request(http::Method::PATCH, path, Some(patch), "application/merge-patch+json")
            .await
    }

    pub async fn delete(&self, path: &str, opts: Option<&Value>) -> Result<Value> {
        self.request(http::Method::DELETE, path, opts, "application/json").await
    }

    /// Watches the list at `path` from `resource_version` (with BOOKMARKs), calling
    /// `on_event` with each event (`{"type", "object"}`) until the server ends the watch
    /// (`timeoutSeconds`) or it fails. A watch that cannot start is an error with its code.
    pub async fn watch(
        &self,
        path: &str,
        resource_version: &str,
        timeout_seconds: u64,
        mut on_event: impl FnMut(Value),
    ) -> Result<()> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let uri = format!(
            "{}{path}{sep}watch=true&allowWatchBookmarks=true&resourceVersion={resource_version}&timeoutSeconds={timeout_seconds}",
            self.base
        );
        let resp = self
            .send(http::Method::GET, uri, "application/json", Vec::new())
            .await?;
        let code = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&code) {
            let bytes = body.collect().await.map_err(ClientError::transport)?.to_bytes();
            return Err(ClientError::from_status(code, &bytes));
        }
        // Events are JSON documents, one per line.
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ClientError::transport)?;
            let Ok(data) = frame.into_data() else { continue };
            buf.extend_from_slice(&data);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if let Ok(ev) = serde_json::from_slice::<Value>(&line) {
                    on_event(ev);
                }
            }
        }
        Ok(())
    }
}
