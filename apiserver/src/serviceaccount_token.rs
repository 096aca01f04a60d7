//! Legacy ServiceAccount tokens as Kubernetes 1.20 makes them: RS256 JWTs with issuer
//! `kubernetes/serviceaccount` and the namespace, Secret and ServiceAccount in private claims,
//! signed by the token controller with `--service-account-private-key-file` and verified by the
//! API server against `--service-account-key-file` (public keys, private keys or
//! certificates), then checked against the Secret that still holds them (kube's lookup).

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "kubernetes/serviceaccount";

/// The claims of a legacy ServiceAccount token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(rename = "kubernetes.io/serviceaccount/namespace")]
    pub namespace: String,
    #[serde(rename = "kubernetes.io/serviceaccount/secret.name")]
    pub secret_name: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.name")]
    pub service_account_name: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.uid")]
    pub service_account_uid: String,
    pub sub: String,
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: no RSA key or certificate found")]
    NoKey(String),
    #[error("{0}: {1}")]
    Bad(String, String),
}

/// kube's keyIDFromPublicKey: base64url(SHA-256(PKIX DER of the public key)), no padding.
fn key_id(pkix_der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(openssl::sha::sha256(pkix_der))
}

/// The RSA public keys in a PEM file: from private keys, public keys or certificates.
fn public_keys(path: &str) -> Result<Vec<openssl::rsa::Rsa<openssl::pkey::Public>>, KeyError> {
    let pem = std::fs::read(path).map_err(|e| KeyError::Read(path.to_string(), e))?;
    let mut out = Vec::new();
    for block in pem::parse_many(&pem).map_err(|e| KeyError::Bad(path.to_string(), e.to_string()))? {
        let der = block.contents();
        let public = match block.tag() {
            "RSA PRIVATE KEY" | "PRIVATE KEY" => openssl::pkey::PKey::private_key_from_der(der)
                .and_then(|k| k.rsa())
                .and_then(|r| openssl::rsa::Rsa::from_public_components(r.n().to_owned()?, r.e().to_owned()?)),
            "PUBLIC KEY" => openssl::rsa::Rsa::public_key_from_der(der),
            "RSA PUBLIC KEY" => openssl::rsa::Rsa::public_key_from_der_pkcs1(der),
            "CERTIFICATE" => openssl::x509::X509::from_der(der)
                .and_then(|c| c.public_key())
                .and_then(|k| k.rsa()),
            _ => continue,
        };
        out.push(public.map_err(|e| KeyError::Bad(path.to_string(), e.to_string()))?);
    }
    if out.is_empty() {
        return Err(KeyError::NoKey(path.to_string()));
    }
    Ok(out)
}

/// Signs tokens (the serviceaccount-token controller).
pub struct TokenSigner {
    key: EncodingKey,
    kid: String,
}

impl TokenSigner {
    /// From an RSA private key PEM file.
    pub fn from_file(path: &str) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|e| KeyError::Read(path.to_string(), e))?;
        let rsa = openssl::rsa::Rsa::private_key_from_pem(&pem)
            .or_else(|_| openssl::pkey::PKey::private_key_from_pem(&pem).and_then(|k| k.rsa()))
            .map_err(|_| KeyError::NoKey(path.to_string()))?;
        let der = rsa
            .private_key_to_der()
            .map_err(|e| KeyError::Bad(path.to_string(), e.to_string()))?;
        let public = openssl::pkey::PKey::from_rsa(rsa)
            .and_then(|k| k.public_key_to_der())
            .map_err(|e| KeyError::Bad(path.to_string(), e.to_string()))?;
        Ok(Self {
            key: EncodingKey::from_rsa_der(&der),
            kid: key_id(&public),
        })
    }

    /// The token for ServiceAccount `sa` (uid `uid`) in `ns`, stored in Secret `secret`.
    pub fn sign(&self, ns: &str, sa: &str, uid: &str, secret: &str) -> Result<String, String> {
        let claims = Claims {
            iss: ISSUER.into(),
            namespace: ns.into(),
            secret_name: secret.into(),
            service_account_name: sa.into(),
            service_account_uid: uid.into(),
            sub: format!("system:serviceaccount:{ns}:{sa}"),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

/// Verifies tokens (the authenticator), against every configured key.
pub struct TokenVerifier {
    keys: Vec<DecodingKey>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenVerifier({} keys)", self.keys.len())
    }
}

impl TokenVerifier {
    pub fn from_files(paths: &[String]) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for p in paths {
            for k in public_keys(p)? {
                let der = k
                    .public_key_to_der_pkcs1()
                    .map_err(|e| KeyError::Bad(p.clone(), e.to_string()))?;
                keys.push(DecodingKey::from_rsa_der(&der));
            }
        }
        Ok(Self { keys })
    }

    /// The claims of a token signed by one of the keys, with kube's issuer (no expiry: legacy
    /// tokens live as long as their Secret).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if token.split('.').count() != 3 {
            return None;
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[ISSUER]);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        self.keys
            .iter()
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, k, &v).ok())
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(dir: &std::path::Path) -> String {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
        let path = dir.join("sa.key");
        std::fs::write(&path, rsa.private_key_to_pem().expect("pem")).expect("write");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn signed_tokens_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = key_file(dir.path());
        let signer = TokenSigner::from_file(&key).expect("signer");
        let verifier = TokenVerifier::from_files(std::slice::from_ref(&key)).expect("verifier");
        let token = signer
            .sign("default", "default", "u-1", "default-token-abcde")
            .expect("sign");
        let claims = verifier.verify(&token).expect("valid");
        assert_eq!(claims.sub, "system:serviceaccount:default:default");
        assert_eq!(claims.secret_name, "default-token-abcde");
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().expect("header"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"].as_str().map(str::len), Some(43), "sha256, base64url");
        // Another key's token, a changed payload and opaque tokens are refused.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let other = TokenSigner::from_file(&key_file(dir2.path())).expect("other");
        assert!(verifier
            .verify(&other.sign("default", "default", "u-1", "s").expect("sign"))
            .is_none());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:kube-system:admin"}"#);
        assert!(verifier.verify(&parts.join(".")).is_none());
        assert!(verifier.verify("opaque-token").is_none());
    }
}
