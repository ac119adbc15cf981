//! The auth stack plugins extend: authenticators turn a request's credentials into an
//! [`Identity`]; authorizers decide whether an identity may perform an action.
//!
//! A plugin contributes them declaratively in its `#[plugin_impl]` block:
//!
//! ```
//! use flovyn_sdk::prelude::*;
//! use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision};
//!
//! #[flovyn_plugin(name = "static-key")]
//! #[derive(Default)]
//! pub struct StaticKey;
//!
//! #[plugin_impl]
//! impl StaticKey {
//!     /// Accepts `Bearer sk_demo` as a service.
//!     #[authenticator(scheme = "static_key", bearer_format = "sk_…")]
//!     async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
//!         match request.bearer_token() {
//!             Some(t) if !t.starts_with("sk_") => AuthOutcome::NotMine,
//!             Some("sk_demo") => AuthOutcome::Authenticated(Identity {
//!                 principal_id: "demo".into(),
//!                 principal_type: PrincipalType::Service,
//!                 tenant: None,
//!                 roles: vec![],
//!                 permissions: vec![],
//!             }),
//!             Some(_) => AuthOutcome::Invalid,
//!             None => AuthOutcome::NotMine,
//!         }
//!     }
//!
//!     /// Services may never delete anything.
//!     #[authorizer]
//!     async fn authorize(&self, who: &Identity, request: &AuthzRequest<'_>) -> Decision {
//!         if who.principal_type == PrincipalType::Service && request.action.ends_with(":delete") {
//!             Decision::Deny
//!         } else {
//!             Decision::Abstain
//!         }
//!     }
//! }
//! # fn main() {
//! let scheme = StaticKey::descriptor().authenticator.as_ref().unwrap();
//! assert_eq!(scheme.name, "static_key");
//! # }
//! ```
//!
//! The server composes the core authenticator (the admin token) and the plugins' in
//! dependency order: the first that recognises the credential decides. For authorization,
//! an explicit [`Decision::Deny`] from any authorizer wins, then any [`Decision::Allow`],
//! otherwise the request is denied; an authorizer that panics counts as a deny.

use axum::http::{HeaderMap, Method};

use crate::Identity;

/// Which protocol a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/REST.
    Http,
    /// gRPC.
    Grpc,
}

/// The credentials of a request, as an authenticator sees them.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    headers: &'a HeaderMap,
    method: &'a Method,
    path: &'a str,
    protocol: Protocol,
    /// Parsed once: every authenticator in the stack asks for it.
    bearer: Option<&'a str>,
}

impl<'a> AuthRequest<'a> {
    /// A request's credentials.
    pub fn new(
        headers: &'a HeaderMap,
        method: &'a Method,
        path: &'a str,
        protocol: Protocol,
    ) -> Self {
        Self {
            headers,
            method,
            path,
            protocol,
            bearer: bearer_of(headers),
        }
    }

    /// All headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The HTTP method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// HTTP or gRPC.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&'a str> {
        self.bearer
    }
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What an authenticator says about a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credential is this authenticator's and valid: the caller is this identity.
    Authenticated(Identity),
    /// Not this authenticator's kind of credential (or none at all): ask the next one.
    NotMine,
    /// This authenticator's kind of credential, but unknown, malformed, revoked or expired.
    /// The caller gets the same 401 as without credentials.
    Invalid,
    /// The credential could not be checked (its store is down): 503 on protected routes.
    Unavailable(String),
}

/// Set by the host on a request whose credential could not be checked
/// ([`AuthOutcome::Unavailable`]): the [`Identity`](crate::Identity) extractor then answers
/// 503 with `Retry-After` rather than 401, since the caller may well be who they claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialsUnavailable;

impl CredentialsUnavailable {
    /// The answer to a request that needs a caller whose credential cannot be checked now:
    /// 503 `service_unavailable`, `Retry-After: 1`.
    pub fn error() -> crate::ApiError {
        crate::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "credentials cannot be checked right now; retry later",
        )
        .retry_after(1)
    }
}

/// What an authorizer is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzRequest<'a> {
    /// The resource, e.g. the plugin name (`worker-token`).
    pub resource: &'a str,
    /// The action, e.g. the route's permission (`worker_token:create`).
    pub action: &'a str,
    /// The tenant the action concerns, if any.
    pub tenant: Option<&'a str>,
}

/// An authorizer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed (unless another authorizer denies).
    Allow,
    /// Denied, whatever the others say.
    Deny,
    /// No opinion.
    Abstain,
}

/// The OpenAPI security scheme an authenticator contributes
/// (`#[authenticator(scheme = "…", bearer_format = "…")]`): an HTTP bearer scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemeDescriptor {
    /// The scheme's name in `components.securitySchemes` (`worker_token`).
    pub name: &'static str,
    /// The `bearerFormat` hint (`fwt_…`).
    pub bearer_format: Option<&'static str>,
    /// The authenticator's doc comment.
    pub description: &'static str,
}

impl SchemeDescriptor {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        bearer_format: Option<&'static str>,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            bearer_format,
            description,
        }
    }

    /// The OpenAPI security scheme.
    pub fn security_scheme(&self) -> utoipa::openapi::security::SecurityScheme {
        let mut http = utoipa::openapi::security::HttpBuilder::new()
            .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
            .description((!self.description.is_empty()).then_some(self.description));
        if let Some(format) = self.bearer_format {
            http = http.bearer_format(format);
        }
        utoipa::openapi::security::SecurityScheme::Http(http.build())
    }
}

/// The server's composed authorizer, as a handler sees it: ask it before acting on a
/// resource the route's own permission does not cover (another tenant's, say).
///
/// ```
/// # use flovyn_sdk::prelude::*;
/// # use flovyn_sdk::auth::{Authz, AuthzRequest};
/// async fn archive(authz: &Authz, who: &Identity, tenant: &str) -> Result<(), ApiError> {
///     authz.require(who, &AuthzRequest { resource: "notes", action: "notes:archive", tenant: Some(tenant) }).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Authz(std::sync::Arc<dyn Authorize>);

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authz")
    }
}

/// What the server plugs into [`Authz`]: the composed authorizers.
pub trait Authorize: Send + Sync + 'static {
    /// Whether `identity` may perform `request` (deny wins, then allow, else deny).
    fn authorize<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AuthzRequest<'a>,
    ) -> crate::BoxFuture<'a, bool>;
}

/// An [`Authorize`] set once the server has composed its authorizers, which happens after the
/// plugins are built: until then it denies. Host API (the server gives one to plugin
/// processes' contexts).
#[derive(Default)]
pub struct LateAuthorize(std::sync::OnceLock<std::sync::Arc<dyn Authorize>>);

impl std::fmt::Debug for LateAuthorize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LateAuthorize")
            .field(&self.0.get().is_some())
            .finish()
    }
}

impl LateAuthorize {
    /// Sets the authorizer; later calls are ignored.
    pub fn set(&self, authorizer: std::sync::Arc<dyn Authorize>) {
        let _ = self.0.set(authorizer);
    }
}

impl Authorize for LateAuthorize {
    fn authorize<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AuthzRequest<'a>,
    ) -> crate::BoxFuture<'a, bool> {
        match self.0.get() {
            Some(authorizer) => authorizer.authorize(identity, request),
            None => Box::pin(async { false }),
        }
    }
}

impl Authz {
    /// Wraps the server's authorizer (the server attaches it to every request).
    pub fn new(authorizer: std::sync::Arc<dyn Authorize>) -> Self {
        Self(authorizer)
    }

    /// Whether `identity` may perform `request`.
    pub async fn allows(&self, identity: &Identity, request: &AuthzRequest<'_>) -> bool {
        self.0.authorize(identity, request).await
    }

    /// `Ok` if allowed, else the 403 to return.
    pub async fn require(
        &self,
        identity: &Identity,
        request: &AuthzRequest<'_>,
    ) -> Result<(), crate::ApiError> {
        if self.allows(identity, request).await {
            Ok(())
        } else {
            Err(crate::ApiError::forbidden(format!(
                "this operation needs the `{}` permission",
                request.action
            )))
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Authz {
    type Rejection = crate::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authz>()
            .cloned()
            .ok_or_else(|| crate::ApiError::internal("no authorizer attached to the request"))
    }
}
