//! A small Kubernetes API client for `api-compare`: HTTPS (rustls, one trusted CA) with a
//! bearer token, over HTTP/2 (ALPN `h2`, requests multiplexed like client-go's) or
//! HTTP/1.1 keep-alive (one request in flight per connection), JSON bodies, and watch
//! streams decoded event by event.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

/// Longest any single request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where requests go and how: one API server's secure port.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub token: String,
    pub http2: bool,
    tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// A target trusting only the CA in `ca_pem` (PEM file), for `https://addr`.
    pub fn new(addr: SocketAddr, ca_pem: &Path, token: &str, http2: bool) -> Result<Target> {
        let pem = std::fs::read(ca_pem).with_context(|| format!("read {}", ca_pem.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for der in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let der: rustls::pki_types::CertificateDer<'static> =
                der.with_context(|| format!("parse {}", ca_pem.display()))?;
            roots.add(der).context("add CA certificate")?;
            n += 1;
        }
        anyhow::ensure!(n > 0, "no certificate in {}", ca_pem.display());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![if http2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
        Ok(Target {
            addr,
            token: token.to_string(),
            http2,
            tls: Arc::new(cfg),
        })
    }

    /// One new connection (TLS handshake done, protocol negotiated).
    pub async fn connect(&self) -> Result<Conn> {
        let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(self.addr))
            .await
            .with_context(|| format!("connect {}: timed out", self.addr))?
            .with_context(|| format!("connect {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {}", self.addr))?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let io = TokioIo::new(tls);
        let sender = if self.http2 {
            anyhow::ensure!(
                alpn.as_deref() == Some(b"h2"),
                "{} did not negotiate h2 (ALPN {alpn:?})",
                self.addr
            );
            let mut b = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
            // Large windows, so multi-megabyte lists are not paced by flow control.
            b.initial_stream_window_size(8 << 20)
                .initial_connection_window_size(32 << 20)
                .max_frame_size(1 << 20);
            let (s, conn) = b.handshake(io).await.context("h2 handshake")?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2(s)
        } else {
            let (s, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .context("http/1.1 handshake")?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H1(s)
        };
        Ok(Conn {
            sender,
            authority: self.addr.to_string(),
            auth: format!("Bearer {}", self.token),
        })
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One connection. HTTP/2 connections are shared by cloning ([`Conn::share`]); an HTTP/1.1
/// connection carries one request at a time.
pub struct Conn {
    sender: Sender,
    authority: String,
    auth: String,
}

/// A response: status and the whole body.
pub struct Resp {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Resp {
    /// `HTTP <code> <reason>: <message>` for error tallies (the Status body's fields).
    pub fn error_kind(&self) -> String {
        let v = serde_json::from_slice::<Value>(&self.body).unwrap_or(Value::Null);
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (reason, mut msg) = (field("reason"), field("message"));
        if msg.len() > 110 {
            let mut cut = 110;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push('…');
        }
        format!("HTTP {} {reason}: {msg}", self.status.as_u16())
    }
}

impl Conn {
    /// Another handle on the same HTTP/2 connection (None for HTTP/1.1).
    pub fn share(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(s) => Some(Conn {
                sender: Sender::H2(s.clone()),
                authority: self.authority.clone(),
                auth: self.auth.clone(),
            }),
            Sender::H1(_) => None,
        }
    }

    fn build(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Request<Full<Bytes>>, String> {
        // h2 needs :scheme and :authority (from an absolute URI); HTTP/1.1 takes the path
        // and a Host header.
        let uri = match self.sender {
            Sender::H2(_) => format!("https://{}{path}", self.authority),
            Sender::H1(_) => path.to_string(),
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "kv-bench/api-compare");
        if matches!(self.sender, Sender::H1(_)) {
            b = b.header(header::HOST, &self.authority);
        }
        let body = match body {
            Some(b2) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                b2
            }
            None => Bytes::new(),
        };
        b.body(Full::new(body))
            .map_err(|e| format!("client: build request: {e}"))
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<hyper::Response<Incoming>, String> {
        let r = match &mut self.sender {
            Sender::H2(s) => {
                s.ready().await.map_err(|e| format!("client: h2 not ready: {e}"))?;
                s.send_request(req).await
            }
            Sender::H1(s) => {
                s.ready()
                    .await
                    .map_err(|e| format!("client: connection not ready: {e}"))?;
                s.send_request(req).await
            }
        };
        r.map_err(|e| format!("client: {e}"))
    }

    /// One request, the whole response body read (bounded by [`REQUEST_TIMEOUT`]).
    pub async fn request(&mut self, method: Method, path: &str, body: Option<Bytes>) -> Result<Resp, String> {
        let req = self.build(method, path, body)?;
        let attempt = async {
            let resp = self.send(req).await?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("client: reading body: {e}"))?
                .to_bytes();
            Ok::<_, String>(Resp { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, attempt)
            .await
            .map_err(|_| format!("client: no response in {REQUEST_TIMEOUT:?}"))?
    }

    /// Starts a watch (`path` carries `watch=1`); fails unless the server answers 200.
    pub async fn watch(&mut self, path: &str) -> Result<WatchStream> {
        let req = self.build(Method::GET, path, None).map_err(anyhow::Error::msg)?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.send(req))
            .await
            .context("watch: no response headers in 10 s")?
            .map_err(anyhow::Error::msg)?;
        let status = resp.status();
        if status != StatusCode::OK {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let r = Resp { status, body };
            anyhow::bail!("watch {path}: {}", r.error_kind());
        }
        Ok(WatchStream {
            body: resp.into_body(),
            buf: Vec::new(),
        })
    }
}

/// The events of one watch response, as JSON values (`{"type": …, "object": …}`).
pub struct WatchStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl WatchStream {
    /// The next event, or None when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            if let Some(v) = take_value(&mut self.buf)? {
                return Ok(Some(v));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(anyhow::anyhow!("watch stream: {e}")),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
            }
        }
    }
}

/// Removes and returns the first complete JSON value in `buf` (None: incomplete or only
/// whitespace so far).
pub fn take_value(buf: &mut Vec<u8>) -> Result<Option<Value>> {
    if buf.iter().all(u8::is_ascii_whitespace) {
        buf.clear();
        return Ok(None);
    }
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) => {
            let off = it.byte_offset();
            buf.drain(..off);
            Ok(Some(v))
        }
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(anyhow::anyhow!("watch stream: bad JSON: {e}")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::take_value;

    #[test]
    fn watch_events_split_across_frames() {
        let mut buf = b"{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n{\"type\":\"MOD".to_vec();
        let v = take_value(&mut buf).ok().flatten();
        assert_eq!(v.as_ref().and_then(|v| v["type"].as_str()), Some("ADDED"));
        assert!(take_value(&mut buf).ok().flatten().is_none(), "second event incomplete");
        buf.extend_from_slice(b"IFIED\",\"object\":{}}\n");
        let v = take_value(&mut buf).ok().flatten();
        assert_eq!(v.as_ref().and_then(|v| v["type"].as_str()), Some("MODIFIED"));
        assert!(take_value(&mut buf).ok().flatten().is_none());
        assert!(buf.is_empty(), "trailing newline dropped");
        let mut bad = b"{\"type\": nope}".to_vec();
        assert!(take_value(&mut bad).is_err());
    }
}
