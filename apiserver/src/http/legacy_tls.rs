//! TLS 1.2 clients that send no `signature_algorithms` extension (busybox's built-in wget,
//! which pods use to reach the `kubernetes` Service) imply RSA with SHA-1 signatures (RFC 5246
//! §7.4.1.4.1). rustls refuses such hellos, Go's crypto/tls (so kube-apiserver) accepts them;
//! so the secure port peeks at each ClientHello and hands only those connections to OpenSSL
//! at security level 0 with the same RSA serving certificate. Every other client gets rustls.

use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use openssl::pkey::{Id, PKey};
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode, SslVersion};
use tokio::net::TcpStream;

/// What the first bytes of a connection say about its ClientHello.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// More bytes are needed.
    Incomplete,
    /// A ClientHello without signature_algorithms.
    Legacy,
    /// Anything else (a modern hello, or not TLS at all: rustls answers it).
    Other,
}

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(*b.get(i)?) << 8 | usize::from(*b.get(i + 1)?))
}

/// Parse the first TLS record of a connection far enough to find its extensions.
pub fn classify(b: &[u8]) -> Hello {
    // Record header: content type 22 (handshake), version, length.
    if b.len() < 5 {
        return Hello::Incomplete;
    }
    if b[0] != 22 {
        return Hello::Other;
    }
    let Some(record_len) = u16_at(b, 3) else {
        return Hello::Incomplete;
    };
    if b.len() < 5 + record_len {
        return Hello::Incomplete;
    }
    let rec = &b[5..5 + record_len];
    // Handshake header: type 1 (client_hello), 24-bit length; the hello must fit the record.
    if rec.len() < 4 || rec[0] != 1 {
        return Hello::Other;
    }
    let hs_len = usize::from(rec[1]) << 16 | usize::from(rec[2]) << 8 | usize::from(rec[3]);
    if hs_len > rec.len() - 4 {
        return Hello::Other;
    }
    let h = &rec[4..4 + hs_len];
    // client_version(2) random(32) session_id<1> cipher_suites<2> compression<1> extensions<2>
    let mut i = 34;
    let Some(&sid) = h.get(i) else { return Hello::Other };
    i += 1 + usize::from(sid);
    let Some(cs) = u16_at(h, i) else { return Hello::Other };
    i += 2 + cs;
    let Some(&comp) = h.get(i) else { return Hello::Other };
    i += 1 + usize::from(comp);
    if i >= h.len() {
        return Hello::Legacy; // no extensions at all
    }
    let Some(ext_len) = u16_at(h, i) else {
        return Hello::Other;
    };
    i += 2;
    let end = (i + ext_len).min(h.len());
    while i + 4 <= end {
        let (Some(typ), Some(len)) = (u16_at(h, i), u16_at(h, i + 2)) else {
            return Hello::Other;
        };
        if typ == 13 {
            return Hello::Other;
        }
        i += 4 + len;
    }
    Hello::Legacy
}

/// Whether the client on `stream` is a legacy one (peeks; consumes nothing).
pub async fn is_legacy(stream: &TcpStream) -> bool {
    let mut buf = vec![0u8; 5 + 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        match classify(&buf[..n]) {
            Hello::Legacy => return true,
            Hello::Other => return false,
            Hello::Incomplete if n == buf.len() => return false,
            Hello::Incomplete => {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// OpenSSL for legacy clients: TLS 1.2 only, security level 0 (SHA-1 signatures), HTTP/1.1.
pub struct LegacyAcceptor(SslAcceptor);

impl LegacyAcceptor {
    /// None when the serving key is not RSA (such clients offer only RSA key exchange then).
    pub fn new(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<Option<Self>> {
        let pem = std::fs::read(key)?;
        if PKey::private_key_from_pem(&pem)?.id() != Id::RSA {
            return Ok(None);
        }
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        b.set_security_level(0);
        b.set_cipher_list("DEFAULT:@SECLEVEL=0")?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        b.set_max_proto_version(Some(SslVersion::TLS1_2))?;
        b.set_private_key_file(key, SslFiletype::PEM)?;
        b.set_certificate_chain_file(cert)?;
        b.check_private_key()?;
        if let Some(ca) = client_ca {
            // Client certificates are optional (bearer tokens work too) but verified when sent.
            b.set_ca_file(ca)?;
            b.set_verify(SslVerifyMode::PEER);
        }
        b.set_alpn_select_callback(|_, client| {
            openssl::ssl::select_next_proto(b"\x08http/1.1", client).ok_or(AlpnError::NOACK)
        });
        Ok(Some(Self(b.build())))
    }

    /// The handshake; returns the stream and the client certificate (DER), if one was verified.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> anyhow::Result<(tokio_openssl::SslStream<TcpStream>, Option<Vec<u8>>)> {
        let ssl = Ssl::new(self.0.context())?;
        let mut s = tokio_openssl::SslStream::new(ssl, tcp)?;
        Pin::new(&mut s).accept().await?;
        let der = s.ssl().peer_certificate().and_then(|c| c.to_der().ok());
        Ok((s, der))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.2 ClientHello record with the given extensions (type, body).
    fn hello(exts: &[(u16, &[u8])]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (t, body) in exts {
            ext.extend_from_slice(&t.to_be_bytes());
            ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
            ext.extend_from_slice(body);
        }
        let mut h = vec![3, 3];
        h.extend_from_slice(&[7u8; 32]);
        h.push(0); // session id
        h.extend_from_slice(&[0, 2, 0xc0, 0x2f]); // one cipher suite
        h.extend_from_slice(&[1, 0]); // null compression
        if !exts.is_empty() {
            h.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            h.extend_from_slice(&ext);
        }
        let mut hs = vec![1, 0, (h.len() >> 8) as u8, h.len() as u8];
        hs.extend_from_slice(&h);
        let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn finds_hellos_without_signature_algorithms() {
        assert_eq!(classify(&hello(&[(11, &[1, 0]), (10, &[0, 2, 0, 23])])), Hello::Legacy);
        assert_eq!(classify(&hello(&[])), Hello::Legacy);
        assert_eq!(
            classify(&hello(&[(10, &[0, 2, 0, 23]), (13, &[0, 2, 4, 3])])),
            Hello::Other
        );
        let full = hello(&[(13, &[0, 2, 4, 3])]);
        assert_eq!(classify(&full[..20]), Hello::Incomplete);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Hello::Other);
        // Lengths that lie are not trusted.
        let mut bad = hello(&[(11, &[1, 0])]);
        bad[6] = 0xff;
        assert_eq!(classify(&bad), Hello::Other);
    }
}
