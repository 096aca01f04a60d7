//! etcd's role-based auth: users (bcrypt password hashes) with roles, roles with key
//! permissions (read, write or both on a key, a range or everything from a key on), the
//! enabled flag, and simple tokens.
//!
//! Every change is applied from the raft log (the hash is computed before proposing, so
//! members apply the same bytes) and persisted in the `auth` column family. Tokens are issued
//! through raft too (an applied Authenticate assigns the token on every member) and live in
//! memory with `--auth-token-ttl`, refreshed on use. The `root` role may do anything.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use prost::Message;
use proto::authpb::{permission::Type as PermType, Permission, Role, User, UserAddOptions};

pub mod check;
pub mod token;

use crate::backend::{Backend, Batch, Cf};
use crate::error::{Error, Result};

pub const ROOT: &str = "root";

const ENABLED_KEY: &[u8] = b"enabled";
const REVISION_KEY: &[u8] = b"revision";
const USER_PREFIX: &[u8] = b"user/";
const ROLE_PREFIX: &[u8] = b"role/";

/// What a request needs on its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

#[derive(Default)]
struct State {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
}

pub struct AuthStore {
    state: RwLock<State>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    token_ttl: Duration,
    /// `--auth-token jwt,...`: signed tokens instead of simple ones.
    jwt: Option<token::Jwt>,
}

fn key(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn load(backend: &Backend) -> Result<State> {
    let mut st = State::default();
    if let Some(v) = backend.get(Cf::Auth, ENABLED_KEY)? {
        st.enabled = v.first() == Some(&1);
    }
    if let Some(v) = backend.get(Cf::Auth, REVISION_KEY)? {
        st.revision = u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt("auth revision".into()))?,
        );
    }
    let mut it = backend.iter(Cf::Auth)?;
    it.seek(USER_PREFIX);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if !k.starts_with(USER_PREFIX) {
            break;
        }
        let u = User::decode(v).map_err(|e| Error::Corrupt(format!("auth user: {e}")))?;
        st.users.insert(String::from_utf8_lossy(&u.name).into_owned(), u);
        it.next();
    }
    it.seek(ROLE_PREFIX);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if !k.starts_with(ROLE_PREFIX) {
            break;
        }
        let r = Role::decode(v).map_err(|e| Error::Corrupt(format!("auth role: {e}")))?;
        st.roles.insert(String::from_utf8_lossy(&r.name).into_owned(), r);
        it.next();
    }
    it.status()?;
    Ok(st)
}

/// Whether a permission's range covers `[key, end)` (`end` empty: the single key; `[0]`:
/// everything from `key` on), as etcd's interval checks decide.
fn covers(p: &Permission, key: &[u8], end: &[u8]) -> bool {
    let p_open = p.range_end == [0];
    if p.range_end.is_empty() {
        return end.is_empty() && p.key == key;
    }
    if key < p.key.as_slice() {
        return false;
    }
    if end.is_empty() {
        return p_open || key < p.range_end.as_slice();
    }
    if end == [0] {
        return p_open;
    }
    p_open || end <= p.range_end.as_slice()
}

impl AuthStore {
    pub fn recover(backend: &Backend, token_ttl: Duration) -> Result<AuthStore> {
        Ok(AuthStore {
            state: RwLock::new(load(backend)?),
            tokens: Mutex::new(HashMap::new()),
            token_ttl,
            jwt: None,
        })
    }

    /// Uses JWT tokens instead of simple ones.
    pub fn with_jwt(mut self, jwt: Option<token::Jwt>) -> AuthStore {
        self.jwt = jwt;
        self
    }

    /// A signed token for `user` when JWT is configured (no raft round trip needed).
    pub fn issue_jwt(&self, user: &str) -> Option<Result<String>> {
        self.jwt.as_ref().map(|j| j.issue(user, self.revision()))
    }

    /// Replaces everything with what `backend` holds (after a snapshot install).
    pub fn reload(&self, backend: &Backend) -> Result<()> {
        *self.state.write() = load(backend)?;
        self.tokens.lock().clear();
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        self.state.read().enabled
    }

    pub fn revision(&self) -> u64 {
        self.state.read().revision
    }

    fn bump(st: &mut State, batch: &mut Batch) {
        st.revision += 1;
        batch.put(Cf::Auth, REVISION_KEY, st.revision.to_be_bytes().to_vec());
    }

    fn put_user(batch: &mut Batch, u: &User) {
        batch.put(
            Cf::Auth,
            key(USER_PREFIX, &String::from_utf8_lossy(&u.name)),
            u.encode_to_vec(),
        );
    }

    fn put_role(batch: &mut Batch, r: &Role) {
        batch.put(
            Cf::Auth,
            key(ROLE_PREFIX, &String::from_utf8_lossy(&r.name)),
            r.encode_to_vec(),
        );
    }

    // ---- changes, applied from the raft log ----

    pub fn enable(&self, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        if st.enabled {
            return Ok(());
        }
        let root = st.users.get(ROOT).ok_or(Error::RootUserNotExist)?;
        if !root.roles.iter().any(|r| r == ROOT) {
            return Err(Error::RootRoleNotExist);
        }
        st.enabled = true;
        batch.put(Cf::Auth, ENABLED_KEY, vec![1]);
        Self::bump(&mut st, batch);
        self.tokens.lock().clear();
        Ok(())
    }

    pub fn disable(&self, batch: &mut Batch) {
        let mut st = self.state.write();
        if !st.enabled {
            return;
        }
        st.enabled = false;
        batch.put(Cf::Auth, ENABLED_KEY, vec![0]);
        Self::bump(&mut st, batch);
        self.tokens.lock().clear();
    }

    pub fn user_add(&self, name: &str, hashed_password: &str, no_password: bool, batch: &mut Batch) -> Result<()> {
        if name.is_empty() {
            return Err(Error::UserEmpty);
        }
        let mut st = self.state.write();
        if st.users.contains_key(name) {
            return Err(Error::UserAlreadyExist);
        }
        let u = User {
            name: name.as_bytes().to_vec(),
            password: if no_password {
                Vec::new()
            } else {
                hashed_password.as_bytes().to_vec()
            },
            roles: Vec::new(),
            options: Some(UserAddOptions { no_password }),
        };
        Self::put_user(batch, &u);
        st.users.insert(name.to_string(), u);
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn user_delete(&self, name: &str, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        if st.enabled && name == ROOT {
            return Err(Error::InvalidAuthMgmt);
        }
        if st.users.remove(name).is_none() {
            return Err(Error::UserNotFound);
        }
        batch.delete(Cf::Auth, key(USER_PREFIX, name));
        Self::bump(&mut st, batch);
        self.tokens.lock().retain(|_, (u, _)| u != name);
        Ok(())
    }

    pub fn user_change_password(&self, name: &str, hashed_password: &str, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        let u = st.users.get_mut(name).ok_or(Error::UserNotFound)?;
        u.password = hashed_password.as_bytes().to_vec();
        let u = u.clone();
        Self::put_user(batch, &u);
        Self::bump(&mut st, batch);
        self.tokens.lock().retain(|_, (user, _)| user != name);
        Ok(())
    }

    pub fn user_grant_role(&self, name: &str, role: &str, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        if role != ROOT && !st.roles.contains_key(role) {
            return Err(Error::RoleNotFound);
        }
        let u = st.users.get_mut(name).ok_or(Error::UserNotFound)?;
        if !u.roles.iter().any(|r| r == role) {
            u.roles.push(role.to_string());
            u.roles.sort();
        }
        let u = u.clone();
        Self::put_user(batch, &u);
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn user_revoke_role(&self, name: &str, role: &str, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        if st.enabled && name == ROOT && role == ROOT {
            return Err(Error::InvalidAuthMgmt);
        }
        let u = st.users.get_mut(name).ok_or(Error::UserNotFound)?;
        let before = u.roles.len();
        u.roles.retain(|r| r != role);
        if u.roles.len() == before {
            return Err(Error::RoleNotGranted);
        }
        let u = u.clone();
        Self::put_user(batch, &u);
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn role_add(&self, name: &str, batch: &mut Batch) -> Result<()> {
        if name.is_empty() {
            return Err(Error::RoleEmpty);
        }
        let mut st = self.state.write();
        if st.roles.contains_key(name) {
            return Err(Error::RoleAlreadyExist);
        }
        let r = Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        };
        Self::put_role(batch, &r);
        st.roles.insert(name.to_string(), r);
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn role_delete(&self, name: &str, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        if st.enabled && name == ROOT {
            return Err(Error::InvalidAuthMgmt);
        }
        if st.roles.remove(name).is_none() {
            return Err(Error::RoleNotFound);
        }
        batch.delete(Cf::Auth, key(ROLE_PREFIX, name));
        let users: Vec<User> = st
            .users
            .values_mut()
            .filter(|u| u.roles.iter().any(|r| r == name))
            .map(|u| {
                u.roles.retain(|r| r != name);
                u.clone()
            })
            .collect();
        for u in &users {
            Self::put_user(batch, u);
        }
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn role_grant_permission(&self, name: &str, perm: Permission, batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        let r = st.roles.get_mut(name).ok_or(Error::RoleNotFound)?;
        match r
            .key_permission
            .iter_mut()
            .find(|p| p.key == perm.key && p.range_end == perm.range_end)
        {
            Some(p) => p.perm_type = perm.perm_type,
            None => r.key_permission.push(perm),
        }
        r.key_permission
            .sort_by(|a, b| a.key.cmp(&b.key).then(a.range_end.cmp(&b.range_end)));
        let r = r.clone();
        Self::put_role(batch, &r);
        Self::bump(&mut st, batch);
        Ok(())
    }

    pub fn role_revoke_permission(&self, name: &str, key_: &[u8], range_end: &[u8], batch: &mut Batch) -> Result<()> {
        let mut st = self.state.write();
        let r = st.roles.get_mut(name).ok_or(Error::RoleNotFound)?;
        let before = r.key_permission.len();
        r.key_permission
            .retain(|p| !(p.key == key_ && p.range_end == range_end));
        if r.key_permission.len() == before {
            return Err(Error::PermissionNotGranted);
        }
        let r = r.clone();
        Self::put_role(batch, &r);
        Self::bump(&mut st, batch);
        Ok(())
    }

    // ---- reads ----

    pub fn user_get(&self, name: &str) -> Result<Vec<String>> {
        self.state
            .read()
            .users
            .get(name)
            .map(|u| u.roles.clone())
            .ok_or(Error::UserNotFound)
    }

    pub fn user_list(&self) -> Vec<String> {
        self.state.read().users.keys().cloned().collect()
    }

    pub fn role_get(&self, name: &str) -> Result<Vec<Permission>> {
        if name == ROOT {
            if let Some(r) = self.state.read().roles.get(ROOT) {
                return Ok(r.key_permission.clone());
            }
        }
        self.state
            .read()
            .roles
            .get(name)
            .map(|r| r.key_permission.clone())
            .ok_or(Error::RoleNotFound)
    }

    pub fn role_list(&self) -> Vec<String> {
        self.state.read().roles.keys().cloned().collect()
    }

    // ---- authentication ----

    /// Checks a user's password (bcrypt; slow on purpose: call it off the async runtime).
    pub fn check_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = {
            let st = self.state.read();
            let u = st.users.get(name).ok_or(Error::AuthFailed)?;
            if u.options.as_ref().map(|o| o.no_password).unwrap_or(false) || u.password.is_empty() {
                return Err(Error::AuthFailed);
            }
            String::from_utf8_lossy(&u.password).into_owned()
        };
        match bcrypt::verify(password, &hash) {
            Ok(true) => Ok(()),
            _ => Err(Error::AuthFailed),
        }
    }

    /// An applied Authenticate: the token is valid on this member from now on.
    pub fn assign_token(&self, token: &str, user: &str) {
        let mut tokens = self.tokens.lock();
        let now = Instant::now();
        tokens.retain(|_, (_, exp)| *exp > now);
        tokens.insert(token.to_string(), (user.to_string(), now + self.token_ttl));
    }

    /// The user a token stands for (refreshing its TTL).
    pub fn user_from_token(&self, token: &str) -> Result<String> {
        if let Some(j) = &self.jwt {
            let user = j.verify(token)?;
            if !self.state.read().users.contains_key(&user) {
                return Err(Error::InvalidAuthToken);
            }
            return Ok(user);
        }
        let mut tokens = self.tokens.lock();
        let now = Instant::now();
        match tokens.get_mut(token) {
            Some((user, exp)) if *exp > now => {
                *exp = now + self.token_ttl;
                Ok(user.clone())
            }
            _ => Err(Error::InvalidAuthToken),
        }
    }

    // ---- permissions ----

    pub fn is_admin(&self, user: &str) -> bool {
        self.state
            .read()
            .users
            .get(user)
            .map(|u| u.roles.iter().any(|r| r == ROOT))
            .unwrap_or(false)
    }

    /// Whether `user` may do `need` on `[key, range_end)`.
    pub fn check(&self, user: &str, key_: &[u8], range_end: &[u8], need: Need) -> Result<()> {
        let st = self.state.read();
        let u = st.users.get(user).ok_or(Error::PermissionDenied)?;
        if u.roles.iter().any(|r| r == ROOT) {
            return Ok(());
        }
        for role in &u.roles {
            let Some(r) = st.roles.get(role) else { continue };
            for p in &r.key_permission {
                let t = PermType::try_from(p.perm_type).unwrap_or(PermType::Read);
                let grants = match need {
                    Need::Read => matches!(t, PermType::Read | PermType::Readwrite),
                    Need::Write => matches!(t, PermType::Write | PermType::Readwrite),
                };
                if grants && covers(p, key_, range_end) {
                    return Ok(());
                }
            }
        }
        Err(Error::PermissionDenied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(t: PermType, key_: &str, end: &[u8]) -> Permission {
        Permission {
            perm_type: t as i32,
            key: key_.as_bytes().to_vec(),
            range_end: end.to_vec(),
        }
    }

    #[test]
    fn permissions_cover_keys_ranges_and_prefixes() {
        let single = perm(PermType::Read, "a", b"");
        assert!(covers(&single, b"a", b""));
        assert!(!covers(&single, b"ab", b""));
        assert!(!covers(&single, b"a", b"b"));
        let prefix = perm(PermType::Read, "foo/", b"foo0");
        assert!(covers(&prefix, b"foo/x", b""));
        assert!(covers(&prefix, b"foo/", b"foo0"));
        assert!(!covers(&prefix, b"foo/", b"\0"));
        assert!(!covers(&prefix, b"fop", b""));
        let open = perm(PermType::Read, "m", &[0]);
        assert!(covers(&open, b"z", b"\0"));
        assert!(!covers(&open, b"a", b""));
    }

    #[test]
    fn enable_needs_root_and_roles_grant_what_they_say() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Backend::open(&dir.path().join("db")).expect("open");
        let a = AuthStore::recover(&backend, Duration::from_secs(300)).expect("recover");
        let mut b = Batch::default();
        assert_eq!(a.enable(&mut b).err(), Some(Error::RootUserNotExist));
        let hash = bcrypt::hash("pw", 4).expect("hash");
        a.user_add(ROOT, &hash, false, &mut b).expect("add root");
        assert_eq!(a.enable(&mut b).err(), Some(Error::RootRoleNotExist));
        a.role_add(ROOT, &mut b).expect("role root");
        a.user_grant_role(ROOT, ROOT, &mut b).expect("grant root");
        a.user_add("alice", &hash, false, &mut b).expect("add alice");
        a.role_add("reader", &mut b).expect("role");
        a.role_grant_permission("reader", perm(PermType::Read, "app/", b"app0"), &mut b)
            .expect("perm");
        a.user_grant_role("alice", "reader", &mut b).expect("grant");
        a.enable(&mut b).expect("enable");
        backend.write(b).expect("write");
        assert!(a.check("alice", b"app/x", b"", Need::Read).is_ok());
        assert_eq!(
            a.check("alice", b"app/x", b"", Need::Write).err(),
            Some(Error::PermissionDenied)
        );
        assert_eq!(
            a.check("alice", b"other", b"", Need::Read).err(),
            Some(Error::PermissionDenied)
        );
        assert!(a.check(ROOT, b"anything", b"\0", Need::Write).is_ok());
        assert!(a.check_password("alice", "pw").is_ok());
        assert_eq!(a.check_password("alice", "nope").err(), Some(Error::AuthFailed));
        assert_eq!(a.check_password("bob", "pw").err(), Some(Error::AuthFailed));
        a.assign_token("tok", "alice");
        assert_eq!(a.user_from_token("tok").expect("token"), "alice");
        assert_eq!(a.user_from_token("forged").err(), Some(Error::InvalidAuthToken));
        // Everything survives a restart.
        let again = AuthStore::recover(&backend, Duration::from_secs(300)).expect("recover");
        assert!(again.is_enabled());
        assert_eq!(again.user_get("alice").expect("user"), vec!["reader".to_string()]);
        assert_eq!(again.revision(), a.revision());
        let mut b = Batch::default();
        assert_eq!(again.user_delete(ROOT, &mut b).err(), Some(Error::InvalidAuthMgmt));
    }
}
