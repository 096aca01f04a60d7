//! Auth tokens, as `--auth-token` chooses them: `simple` (random tokens assigned through raft,
//! kept in memory with a TTL) or `jwt` (signed, self-contained; etcd's option syntax
//! `jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256,ttl=5m` and claims `username`,
//! `revision`, `exp`).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The JWT side of `--auth-token jwt,...`.
pub struct Jwt {
    alg: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: u64,
}

fn read(path: &str) -> std::result::Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))
}

fn parse_ttl(s: &str) -> std::result::Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("invalid ttl {s:?}"))?;
    Ok(match unit {
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "ms" => Duration::from_millis(n),
        _ => return Err(format!("invalid ttl {s:?}")),
    })
}

impl Jwt {
    /// Parses the options after `jwt,` (etcd's defaults: RS256 needs keys, ttl 5m).
    pub fn from_options(opts: &str) -> std::result::Result<Jwt, String> {
        let (mut pubkey, mut privkey, mut method, mut ttl) =
            (None, None, "RS256".to_string(), Duration::from_secs(300));
        for kv in opts.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("invalid auth token option {kv:?}"))?;
            match k {
                "pub-key" => pubkey = Some(v.to_string()),
                "priv-key" => privkey = Some(v.to_string()),
                "sign-method" => method = v.to_string(),
                "ttl" => ttl = parse_ttl(v)?,
                other => return Err(format!("unknown auth token option {other:?}")),
            }
        }
        let alg: Algorithm = method
            .parse()
            .map_err(|_| format!("unsupported sign-method {method:?}"))?;
        let (encoding, decoding) = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let key = read(privkey.as_deref().ok_or("HMAC sign methods need priv-key")?)?;
                (Some(EncodingKey::from_secret(&key)), DecodingKey::from_secret(&key))
            }
            _ => {
                let pub_pem = read(pubkey.as_deref().ok_or("jwt needs pub-key")?)?;
                let dec = match alg {
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pub_pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pub_pem),
                    _ => DecodingKey::from_rsa_pem(&pub_pem),
                }
                .map_err(|e| format!("bad jwt pub-key: {e}"))?;
                let enc = match &privkey {
                    Some(p) => {
                        let pem = read(p)?;
                        Some(
                            match alg {
                                Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
                                Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                                _ => EncodingKey::from_rsa_pem(&pem),
                            }
                            .map_err(|e| format!("bad jwt priv-key: {e}"))?,
                        )
                    }
                    // Verify-only members (etcd allows a public key alone).
                    None => None,
                };
                (enc, dec)
            }
        };
        Ok(Jwt {
            alg,
            encoding,
            decoding,
            ttl,
        })
    }

    pub fn issue(&self, user: &str, revision: u64) -> Result<String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("this member has no jwt priv-key to sign with".into()))?;
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + self.ttl.as_secs();
        let claims = Claims {
            username: user.to_string(),
            revision,
            exp,
        };
        jsonwebtoken::encode(&Header::new(self.alg), &claims, key).map_err(|e| Error::Backend(format!("jwt: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<String> {
        let mut v = Validation::new(self.alg);
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        v.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims.username)
            .map_err(|_| Error::InvalidAuthToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_tokens_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("secret");
        std::fs::write(&key, b"0123456789abcdef0123456789abcdef").expect("write");
        let jwt = Jwt::from_options(&format!("priv-key={},sign-method=HS256,ttl=1m", key.display())).expect("jwt");
        let tok = jwt.issue("alice", 3).expect("issue");
        assert_eq!(jwt.verify(&tok).expect("verify"), "alice");
        let mut forged = tok.clone();
        forged.push('x');
        assert_eq!(jwt.verify(&forged).err(), Some(Error::InvalidAuthToken));
        assert!(Jwt::from_options("sign-method=RS256").is_err(), "RS256 needs keys");
        assert!(Jwt::from_options("bogus=1").is_err());
    }
}
