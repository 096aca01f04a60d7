//! The Auth service. Auth is off in this build: `AuthStatus` says so, and the calls that
//! would change it are refused with a clear message rather than silently ignored.

use std::sync::Arc;

use proto::etcdserverpb::{auth_server::Auth, *};
use tonic::{Request, Response, Status};

use crate::member::Member;

pub struct AuthService {
    pub member: Arc<Member>,
}

const NOT_YET: &str = "etcdserver: authentication is not supported by this build yet";

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_status(&self, _r: Request<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        Ok(Response::new(AuthStatusResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
            enabled: false,
            auth_revision: 0,
        }))
    }

    async fn auth_enable(&self, _r: Request<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn auth_disable(&self, _r: Request<AuthDisableRequest>) -> Result<Response<AuthDisableResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn authenticate(&self, _r: Request<AuthenticateRequest>) -> Result<Response<AuthenticateResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_add(&self, _r: Request<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_get(&self, _r: Request<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_list(&self, _r: Request<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_delete(
        &self,
        _r: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_change_password(
        &self,
        _r: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_grant_role(
        &self,
        _r: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn user_revoke_role(
        &self,
        _r: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_add(&self, _r: Request<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_get(&self, _r: Request<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_list(&self, _r: Request<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_delete(
        &self,
        _r: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_grant_permission(
        &self,
        _r: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn role_revoke_permission(
        &self,
        _r: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }
}
