//! A small blocking HTTP/1.1 client for tests: plain HTTP (this apiserver's insecure port) or
//! TLS with a bearer token and no certificate verification (a stock kube-apiserver's secure
//! port), for one-shot requests and for watches streamed as JSON events.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::Value;

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// Where requests go: `http://127.0.0.1:port`, or `https://` with a bearer token.
#[derive(Clone)]
pub struct Http {
    pub port: u16,
    token: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Http {
    pub fn plain(port: u16) -> Http {
        Http {
            port,
            token: None,
            tls: None,
        }
    }

    /// TLS without verifying the server's (self-signed) certificate; every request carries
    /// `Authorization: Bearer <token>`.
    pub fn tls(port: u16, token: &str) -> Http {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(apiserver::tls::NoVerify::new(provider)))
            .with_no_client_auth();
        Http {
            port,
            token: Some(token.to_string()),
            tls: Some(Arc::new(cfg)),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A connection and a handle on its socket (to shut it down from another thread).
    fn connect(&self) -> io::Result<(Box<dyn Conn>, TcpStream)> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        let handle = tcp.try_clone()?;
        let conn: Box<dyn Conn> = match &self.tls {
            None => Box::new(tcp),
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let client = rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
                Box::new(rustls::StreamOwned::new(client, tcp))
            }
        };
        Ok((conn, handle))
    }

    fn send(&self, conn: &mut dyn Conn, method: &str, path: &str, ct: &str, body: &str) -> io::Result<()> {
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Accept: application/json\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        conn.flush()
    }

    pub fn try_request(&self, method: &str, path: &str, ct: &str, body: &str) -> io::Result<(u16, String)> {
        let (mut conn, handle) = self.connect()?;
        handle.set_read_timeout(Some(Duration::from_secs(10)))?;
        self.send(conn.as_mut(), method, path, ct, body)?;
        let mut reader = BufReader::new(conn);
        let (code, framing) = read_head(&mut reader)?;
        let mut raw = Vec::new();
        if let Err(e) = Body::new(reader, framing).read_to_end(&mut raw) {
            // A server closing TLS without close_notify ends a body of unknown length.
            if e.kind() != io::ErrorKind::UnexpectedEof || framing != Framing::UntilClose {
                return Err(e);
            }
        }
        Ok((code, String::from_utf8_lossy(&raw).into_owned()))
    }

    /// A request with its own Accept header and a byte body: (status code, Content-Type, body).
    pub fn raw(&self, method: &str, path: &str, accept: &str, ct: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        let go = || -> io::Result<(u16, String, Vec<u8>)> {
            let (mut conn, handle) = self.connect()?;
            handle.set_read_timeout(Some(Duration::from_secs(10)))?;
            self.send_head(conn.as_mut(), method, path, accept, ct, body.len())?;
            conn.write_all(body)?;
            conn.flush()?;
            let mut reader = BufReader::new(conn);
            let (code, framing, content_type) = read_head_ct(&mut reader)?;
            let mut raw = Vec::new();
            if let Err(e) = Body::new(reader, framing).read_to_end(&mut raw) {
                if e.kind() != io::ErrorKind::UnexpectedEof || framing != Framing::UntilClose {
                    return Err(e);
                }
            }
            Ok((code, content_type, raw))
        };
        go().unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.url()))
    }

    /// A watch with its own Accept header: (status code, Content-Type, a reader of the body,
    /// the socket to shut down).
    pub fn raw_watch(&self, path: &str, accept: &str) -> (u16, String, Box<dyn Read + Send>, TcpStream) {
        let go = || -> io::Result<(u16, String, Box<dyn Read + Send>, TcpStream)> {
            let (mut conn, handle) = self.connect()?;
            // A stuck stream fails the test instead of hanging it.
            handle.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.send_head(conn.as_mut(), "GET", path, accept, "application/json", 0)?;
            conn.flush()?;
            let mut reader = BufReader::new(conn);
            let (code, framing, content_type) = read_head_ct(&mut reader)?;
            Ok((code, content_type, Box::new(Body::new(reader, framing)), handle))
        };
        go().unwrap_or_else(|e| panic!("watch {}{path}: {e}", self.url()))
    }

    fn send_head(
        &self,
        conn: &mut dyn Conn,
        method: &str,
        path: &str,
        accept: &str,
        ct: &str,
        len: usize,
    ) -> io::Result<()> {
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Accept: {accept}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\n\r\n"
        )
    }

    /// Plain request: (status code, body).
    pub fn request(&self, method: &str, path: &str, ct: &str, body: &str) -> (u16, String) {
        self.try_request(method, path, ct, body)
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.url()))
    }

    pub fn json(&self, method: &str, path: &str, ct: &str, body: &str) -> (u16, Value) {
        let (code, b) = self.request(method, path, ct, body);
        let v = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{method} {}{path}: {e}: {b}", self.url()));
        (code, v)
    }

    pub fn get_json(&self, path: &str) -> (u16, Value) {
        self.json("GET", path, "application/json", "")
    }

    /// Open a watch (`path` must ask for `watch=1`); events arrive as JSON objects.
    pub fn watch(&self, path: &str) -> Watch {
        let (mut conn, handle) = self
            .connect()
            .unwrap_or_else(|e| panic!("watch {}{path}: {e}", self.url()));
        self.send(conn.as_mut(), "GET", path, "application/json", "")
            .unwrap_or_else(|e| panic!("watch {}{path}: {e}", self.url()));
        let (tx, rx) = mpsc::channel();
        let what = format!("{}{path}", self.url());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(conn);
            let head = read_head(&mut reader);
            let framing = match head {
                Ok((200, f)) => f,
                Ok((code, f)) => {
                    let mut b = String::new();
                    let _ = Body::new(reader, f).read_to_string(&mut b);
                    let _ = tx.send(Err(format!("watch {what}: HTTP {code}: {b}")));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("watch {what}: {e}")));
                    return;
                }
            };
            let events = serde_json::Deserializer::from_reader(Body::new(reader, framing)).into_iter::<Value>();
            for ev in events {
                let Ok(ev) = ev else { break };
                if tx.send(Ok(ev)).is_err() {
                    break;
                }
            }
        });
        Watch { rx, socket: handle }
    }
}

/// A streaming watch; the connection is shut down on drop.
pub struct Watch {
    rx: mpsc::Receiver<Result<Value, String>>,
    socket: TcpStream,
}

impl Watch {
    /// The next event, waiting at most `secs`; panics on a watch error.
    pub fn next(&self, secs: u64) -> Option<Value> {
        match self.rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(Ok(ev)) => Some(ev),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => None,
        }
    }

    /// Events (in order) until `done` holds for the collected ones or `secs` pass.
    pub fn collect_until(&self, secs: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut out = Vec::new();
        while !done(&out) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.rx.recv_timeout(left) {
                Ok(Ok(ev)) => out.push(ev),
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Status code and body framing from the response head.
fn read_head(r: &mut impl BufRead) -> io::Result<(u16, Framing)> {
    read_head_ct(r).map(|(code, framing, _)| (code, framing))
}

/// Status code, body framing and Content-Type from the response head.
fn read_head_ct(r: &mut impl BufRead) -> io::Result<(u16, Framing, String)> {
    let mut status = String::new();
    r.read_line(&mut status)?;
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status:?}")))?;
    let mut framing = Framing::UntilClose;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "content-type" {
            content_type = v.to_string();
        }
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            framing = Framing::Chunked;
        } else if k == "content-length" && framing != Framing::Chunked {
            framing = Framing::Length(v.parse().map_err(|_| io::Error::other("bad content-length"))?);
        }
    }
    Ok((code, framing, content_type))
}

/// The body of a response, de-chunked, as a stream.
struct Body<R> {
    r: R,
    framing: Framing,
    /// Bytes left in the current chunk (or of a Content-Length body).
    left: usize,
    done: bool,
}

impl<R: BufRead> Body<R> {
    fn new(r: R, framing: Framing) -> Self {
        let left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        Body {
            r,
            framing,
            left,
            done: framing == Framing::Length(0),
        }
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::UntilClose => self.r.read(buf),
            Framing::Length(_) => {
                let max = buf.len().min(self.left);
                let n = self.r.read(&mut buf[..max])?;
                self.left -= n;
                self.done = self.left == 0 || n == 0;
                Ok(n)
            }
            Framing::Chunked => {
                if self.left == 0 {
                    let mut line = String::new();
                    self.r.read_line(&mut line)?;
                    if line == "\r\n" {
                        line.clear();
                        self.r.read_line(&mut line)?; // the CRLF after the previous chunk
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    self.left = usize::from_str_radix(size, 16)
                        .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
                    if self.left == 0 {
                        self.done = true;
                        return Ok(0);
                    }
                }
                let max = buf.len().min(self.left);
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= n;
                Ok(n)
            }
        }
    }
}
