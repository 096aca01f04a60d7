//! The Auth service: enable/disable, Authenticate (simple tokens), users and roles. Changes
//! go through raft (passwords hashed with bcrypt before proposing); reads are served after a
//! linearizable barrier. Everything but AuthStatus, Authenticate and changing one's own
//! password is for root once auth is on.

use std::sync::Arc;

use proto::etcdserverpb::{auth_server::Auth, *};
use rand::Rng;
use tonic::{Request, Response, Status};

use super::authz;
use super::errors::status;
use crate::error::{Error, Result as KvResult};
use crate::member::Member;

pub struct AuthService {
    pub member: Arc<Member>,
}

impl AuthService {
    fn header(&self) -> Option<ResponseHeader> {
        Some(self.member.header(self.member.store.current_revision()))
    }

    /// Root only while auth is on (AuthEnable itself is open while it is off).
    fn admin<T>(&self, req: &Request<T>) -> Result<(), Status> {
        authz::admin(&self.member, req).map_err(status)
    }

    async fn change(&self, req: InternalRaftRequest) -> Result<Option<ResponseHeader>, Status> {
        self.member.propose(req).await.map_err(status)?;
        Ok(self.header())
    }

    async fn hash(&self, password: String) -> KvResult<String> {
        let cost = self.member.cfg.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| Error::Backend(e.to_string()))?
            .map_err(|e| Error::Backend(format!("bcrypt: {e}")))
    }

    async fn read_barrier(&self) -> Result<(), Status> {
        self.member.linearizable_barrier().await.map_err(status)
    }
}

/// A simple token as etcd makes them: 16 random letters, a dot, a counter.
fn simple_token() -> String {
    let mut rng = rand::thread_rng();
    let letters: String = (0..16).map(|_| (b'a' + rng.gen_range(0..26)) as char).collect();
    format!("{letters}.{}", rng.gen::<u32>())
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(&self, r: Request<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_enable: Some(AuthEnableRequest {}),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(&self, r: Request<AuthDisableRequest>) -> Result<Response<AuthDisableResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_disable: Some(AuthDisableRequest {}),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(&self, _r: Request<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        Ok(Response::new(AuthStatusResponse {
            header: self.header(),
            enabled: self.member.auth.is_enabled(),
            auth_revision: self.member.auth.revision(),
        }))
    }

    async fn authenticate(&self, r: Request<AuthenticateRequest>) -> Result<Response<AuthenticateResponse>, Status> {
        let r = r.into_inner();
        if !self.member.auth.is_enabled() {
            return Err(status(Error::AuthNotEnabled));
        }
        let auth = self.member.auth.clone();
        let (name, password) = (r.name.clone(), r.password.clone());
        tokio::task::spawn_blocking(move || auth.check_password(&name, &password))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| {
                tracing::info!(user = %r.name, "authentication failed");
                status(e)
            })?;
        if let Some(signed) = self.member.auth.issue_jwt(&r.name) {
            return Ok(Response::new(AuthenticateResponse {
                header: self.header(),
                token: signed.map_err(status)?,
            }));
        }
        let token = simple_token();
        let header = self
            .change(InternalRaftRequest {
                authenticate: Some(InternalAuthenticateRequest {
                    name: r.name,
                    password: String::new(),
                    simple_token: token.clone(),
                }),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthenticateResponse { header, token }))
    }

    async fn user_add(&self, r: Request<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        self.admin(&r)?;
        let mut r = r.into_inner();
        let no_password = r.options.as_ref().map(|o| o.no_password).unwrap_or(false);
        if r.name.is_empty() {
            return Err(status(Error::UserEmpty));
        }
        if r.hashed_password.is_empty() && !no_password {
            r.hashed_password = self.hash(std::mem::take(&mut r.password)).await.map_err(status)?;
        }
        r.password.clear();
        let header = self
            .change(InternalRaftRequest {
                auth_user_add: Some(r),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(&self, r: Request<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        self.admin(&r)?;
        self.read_barrier().await?;
        let roles = self.member.auth.user_get(&r.into_inner().name).map_err(status)?;
        Ok(Response::new(AuthUserGetResponse {
            header: self.header(),
            roles,
        }))
    }

    async fn user_list(&self, r: Request<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        self.admin(&r)?;
        self.read_barrier().await?;
        Ok(Response::new(AuthUserListResponse {
            header: self.header(),
            users: self.member.auth.user_list(),
        }))
    }

    async fn user_delete(&self, r: Request<AuthUserDeleteRequest>) -> Result<Response<AuthUserDeleteResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_user_delete: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        r: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        // A user may change their own password; anything else is root's.
        let me = authz::caller(&self.member, &r).map_err(status)?;
        if me.as_deref() != Some(r.get_ref().name.as_str()) {
            self.admin(&r)?;
        }
        let mut r = r.into_inner();
        if r.hashed_password.is_empty() {
            r.hashed_password = self.hash(std::mem::take(&mut r.password)).await.map_err(status)?;
        }
        r.password.clear();
        let header = self
            .change(InternalRaftRequest {
                auth_user_change_password: Some(r),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        r: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_user_grant_role: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        r: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_user_revoke_role: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(&self, r: Request<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_role_add: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(&self, r: Request<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        self.admin(&r)?;
        self.read_barrier().await?;
        let perm = self.member.auth.role_get(&r.into_inner().role).map_err(status)?;
        Ok(Response::new(AuthRoleGetResponse {
            header: self.header(),
            perm,
        }))
    }

    async fn role_list(&self, r: Request<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        self.admin(&r)?;
        self.read_barrier().await?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.header(),
            roles: self.member.auth.role_list(),
        }))
    }

    async fn role_delete(&self, r: Request<AuthRoleDeleteRequest>) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_role_delete: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        r: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        self.admin(&r)?;
        let r = r.into_inner();
        if r.perm.is_none() {
            return Err(status(Error::InvalidArgument(
                "etcdserver: permission not given".into(),
            )));
        }
        let header = self
            .change(InternalRaftRequest {
                auth_role_grant_permission: Some(r),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        r: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        self.admin(&r)?;
        let header = self
            .change(InternalRaftRequest {
                auth_role_revoke_permission: Some(r.into_inner()),
                ..Default::default()
            })
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
