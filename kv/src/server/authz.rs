//! Who is calling, when auth is on: the user behind the `token` metadata (or the gateway's
//! `authorization` header), else the common name of a verified client certificate, else
//! nobody (etcd's "user name is empty").

use tonic::Request;

use crate::error::{Error, Result};
use crate::member::Member;

/// The caller's user name; `None` while auth is off.
pub fn caller<T>(m: &Member, req: &Request<T>) -> Result<Option<String>> {
    if !m.auth.is_enabled() {
        return Ok(None);
    }
    let md = req.metadata();
    if let Some(tok) = md.get("token").or_else(|| md.get("authorization")) {
        let tok = tok.to_str().map_err(|_| Error::InvalidAuthToken)?;
        return m.auth.user_from_token(tok).map(Some);
    }
    if let Some(certs) = req.peer_certs() {
        if let Some(cn) = certs.first().and_then(crate::tls::common_name) {
            return Ok(Some(cn));
        }
    }
    Err(Error::UserEmpty)
}

/// Root only (auth off: anyone).
pub fn admin<T>(m: &Member, req: &Request<T>) -> Result<()> {
    match caller(m, req)? {
        None => Ok(()),
        Some(u) if m.auth.is_admin(&u) => Ok(()),
        Some(_) => Err(Error::PermissionDenied),
    }
}
