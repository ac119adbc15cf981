//! Who is calling: the [`Identity`] the server's auth layer attaches to each request, and
//! its extractor for handlers.
//!
//! This module only defines the shape; authenticating credentials is the server's job (and
//! that of the plugins that contribute authenticators).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// The kind of principal behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// The operator, via the admin token.
    Admin,
    /// A human user.
    User,
    /// A worker process.
    Worker,
    /// Another service.
    Service,
}

impl PrincipalType {
    /// The name it has in JSON (`admin`, `user`, `worker`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Admin => "admin",
            PrincipalType::User => "user",
            PrincipalType::Worker => "worker",
            PrincipalType::Service => "service",
        }
    }
}

/// The authenticated caller of a request.
///
/// Use it as a handler argument to require and read the caller; a request without one is
/// answered 401 before the handler runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    /// Stable id of the principal.
    pub principal_id: String,
    /// What kind of principal it is.
    pub principal_type: PrincipalType,
    /// The tenant the caller acts in, if any.
    pub tenant: Option<String>,
    /// Roles granted to the caller.
    pub roles: Vec<String>,
    /// Permissions granted to the caller (`worker_token:create`); `*` grants all.
    pub permissions: Vec<String>,
}

impl Identity {
    /// Whether the caller holds `permission` (directly or through `*`).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == "*" || p == permission)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Identity::of(parts)?.ok_or_else(ApiError::unauthorized)
    }
}

impl Identity {
    /// The caller the server authenticated for this request, `None` for an anonymous one;
    /// an error when credentials were sent but could not be checked (an authenticator
    /// unavailable: 503, not anonymous).
    pub(crate) fn of(parts: &Parts) -> Result<Option<Identity>, ApiError> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(Some(identity.clone()));
        }
        if parts
            .extensions
            .get::<crate::auth::CredentialsUnavailable>()
            .is_some()
        {
            return Err(crate::auth::CredentialsUnavailable::error());
        }
        Ok(None)
    }
}
