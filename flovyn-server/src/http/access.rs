//! Who is calling, and may they: the auth stack that plugins extend.
//!
//! - Authentication: the core authenticator (the admin bearer token, `FLOVYN_ADMIN_TOKEN`,
//!   compared in constant time) and then every plugin's `#[authenticator]`, in start
//!   (dependency) order. The first that recognises the credential decides; an invalid
//!   credential leaves the request anonymous, so protected routes answer the same 401 for
//!   unknown, malformed, revoked and expired credentials.
//! - Authorization of a route's `permission`: the core authorizer allows what the identity's
//!   permissions grant, then every plugin's `#[authorizer]` is asked. An explicit deny wins,
//!   then any allow; otherwise 403. An authorizer that panics counts as a deny.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::http::{Extensions, Request};
use axum::response::{IntoResponse, Response};
use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision, Protocol};
use flovyn_sdk::descriptor::{Access, Method};
use flovyn_sdk::host::PluginInstance;
use flovyn_sdk::{ApiError, Identity, PrincipalType};
use futures_util::FutureExt as _;
use subtle::ConstantTimeEq as _;

use crate::host::RunningPlugin;
use crate::host::routes::{PathId, RouteTable};

/// The shortest admin token the server accepts.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// The core authenticator's credential.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    admin_token: Option<Arc<str>>,
}

impl Credentials {
    /// Credentials accepting `admin_token` (none: the admin role is unreachable).
    pub fn new(admin_token: Option<&str>) -> Self {
        Self {
            admin_token: admin_token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }

    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        let (Some(admin), Some(token)) = (self.admin_token.as_deref(), request.bearer_token())
        else {
            return AuthOutcome::NotMine;
        };
        // Constant time: how long the comparison takes does not reveal how much matched.
        if bool::from(token.as_bytes().ct_eq(admin.as_bytes())) {
            AuthOutcome::Authenticated(admin_identity())
        } else {
            AuthOutcome::NotMine
        }
    }
}

fn admin_identity() -> Identity {
    Identity {
        principal_id: "admin".to_owned(),
        principal_type: PrincipalType::Admin,
        tenant: None,
        roles: vec!["admin".to_owned()],
        permissions: vec!["*".to_owned()],
    }
}

/// The composed authenticators and authorizers.
#[derive(Clone)]
pub struct AuthStack {
    core: Credentials,
    authenticators: Arc<[(&'static str, Arc<dyn PluginInstance>)]>,
    authorizers: Arc<[(&'static str, Arc<dyn PluginInstance>)]>,
}

impl std::fmt::Debug for AuthStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStack")
            .field(
                "authenticators",
                &self
                    .authenticators
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>(),
            )
            .field(
                "authorizers",
                &self.authorizers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl AuthStack {
    /// The core authenticator plus the plugins' (in `plugins` order, i.e. start order).
    pub fn new(core: Credentials, plugins: &[RunningPlugin]) -> Self {
        let authenticators = plugins
            .iter()
            .filter(|p| p.descriptor.authenticator.is_some())
            .map(|p| (p.descriptor.name.as_str(), p.instance.clone()))
            .collect();
        let authorizers = plugins
            .iter()
            .filter(|p| p.descriptor.authorizer)
            .map(|p| (p.descriptor.name.as_str(), p.instance.clone()))
            .collect();
        Self {
            core,
            authenticators,
            authorizers,
        }
    }

    /// The identity behind a request's credentials: the first authenticator that
    /// recognises them decides.
    pub async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        match self.core.authenticate(request) {
            AuthOutcome::NotMine => {}
            decided => return decided,
        }
        for (plugin, authenticator) in self.authenticators.iter() {
            let outcome = AssertUnwindSafe(authenticator.authenticate(request))
                .catch_unwind()
                .await;
            match outcome {
                Ok(AuthOutcome::NotMine) => continue,
                Ok(decided) => return decided,
                Err(_) => {
                    tracing::error!(plugin, "authenticator panicked");
                    return AuthOutcome::Unavailable(format!(
                        "the authenticator of plugin `{plugin}` failed"
                    ));
                }
            }
        }
        AuthOutcome::NotMine
    }

    /// Whether `identity` may perform `request`: a deny wins, then an allow, else deny.
    pub async fn authorize(&self, identity: &Identity, request: &AuthzRequest<'_>) -> bool {
        let mut allowed = identity.has_permission(request.action);
        for (plugin, authorizer) in self.authorizers.iter() {
            match AssertUnwindSafe(authorizer.authorize(identity, request))
                .catch_unwind()
                .await
            {
                Ok(Decision::Deny) => return false,
                Ok(Decision::Allow) => allowed = true,
                Ok(Decision::Abstain) => {}
                Err(_) => {
                    tracing::error!(plugin, "authorizer panicked: denying");
                    return false;
                }
            }
        }
        allowed
    }
}

impl flovyn_sdk::auth::Authorize for AuthStack {
    fn authorize<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AuthzRequest<'a>,
    ) -> flovyn_sdk::BoxFuture<'a, bool> {
        Box::pin(AuthStack::authorize(self, identity, request))
    }
}

/// The access check of every request: who is calling ([`Gate::identify`]) and, on a plugin
/// route, whether they may ([`Gate::enforce`]), by the host's route table. Built once; the
/// request path (`crate::http::edge`) calls it for every request.
#[derive(Debug, Clone)]
pub struct Gate {
    stack: AuthStack,
    /// The `Authz` handle every request carries, for handlers that check more themselves.
    authz: flovyn_sdk::auth::Authz,
    /// Every plugin route's full path template, matched with `matchit` (what axum's router
    /// is built on, with the same templates): the access check runs before routing, outside
    /// axum's router, so it cannot use axum's `MatchedPath`.
    table: Arc<RouteTable>,
}

impl Gate {
    /// The gate of the routes and gRPC services in `table`, authenticating and authorizing
    /// through `stack`.
    pub fn new(stack: AuthStack, table: Arc<RouteTable>) -> Self {
        let authz = flovyn_sdk::auth::Authz::new(Arc::new(stack.clone()));
        Self {
            stack,
            authz,
            table,
        }
    }

    /// The route table the gate checks against.
    pub fn table(&self) -> &RouteTable {
        &self.table
    }

    /// Attaches the caller's [`Identity`] when a credential is recognised. Refusing is left
    /// to the routes: [`Gate::enforce`] for plugin routes, the `Identity` extractor (401)
    /// for core ones. `protocol` is what the request path told the request apart as.
    pub async fn identify<B>(&self, request: &mut Request<B>, protocol: Protocol) {
        let outcome = {
            let credentials = AuthRequest::new(
                request.headers(),
                request.method(),
                request.uri().path(),
                protocol,
            );
            self.stack.authenticate(&credentials).await
        };
        request.extensions_mut().insert(self.authz.clone());
        match outcome {
            AuthOutcome::Authenticated(identity) => {
                request.extensions_mut().insert(identity);
            }
            AuthOutcome::NotMine | AuthOutcome::Invalid => {}
            AuthOutcome::Unavailable(reason) => {
                tracing::error!(%reason, "credential could not be checked");
                request
                    .extensions_mut()
                    .insert(flovyn_sdk::auth::CredentialsUnavailable);
            }
        }
    }

    /// The refusal of a request to a plugin route its caller may not use (401, 403, or 503
    /// when the credential could not be checked); `None` lets it through. Requests that
    /// matched no plugin route (`route` is `None`), or a method the route does not serve
    /// (405 follows), pass.
    ///
    /// Takes the request's parts rather than the request: a body is not `Sync`, so a future
    /// holding a `&Request` across an await would not be `Send`.
    pub async fn enforce(
        &self,
        method: &axum::http::Method,
        route: Option<PathId>,
        extensions: &Extensions,
    ) -> Option<Response> {
        let route = route?;
        let access = self
            .table
            .access(route, Method::parse(method.as_str()).ok()?)?;
        if *access == Access::Public {
            return None;
        }
        let Some(identity) = extensions.get::<Identity>() else {
            if extensions
                .get::<flovyn_sdk::auth::CredentialsUnavailable>()
                .is_some()
            {
                return Some(flovyn_sdk::auth::CredentialsUnavailable::error().into_response());
            }
            return Some(ApiError::unauthorized().into_response());
        };
        if let Access::Permission(permission) = access {
            let authz = AuthzRequest {
                resource: self.table.plugin_of(route),
                action: permission,
                tenant: identity.tenant.as_deref(),
            };
            if !self.stack.authorize(identity, &authz).await {
                return Some(
                    ApiError::forbidden(format!(
                        "this operation needs the `{permission}` permission"
                    ))
                    .into_response(),
                );
            }
        }
        None
    }
}

impl Gate {
    /// The refusal of a gRPC call (`/<package>.<Service>/<Method>`) its caller may not
    /// make: every method needs an authenticated caller (`Unauthenticated`, or `Unavailable`
    /// when the credential could not be checked), and a service declared with a permission
    /// needs it (`PermissionDenied`). `None` lets the call through; an unknown service too
    /// (it answers `Unimplemented` after authentication).
    pub async fn enforce_grpc(&self, path: &str, extensions: &Extensions) -> Option<tonic::Status> {
        let Some(identity) = extensions.get::<Identity>() else {
            return Some(
                if extensions
                    .get::<flovyn_sdk::auth::CredentialsUnavailable>()
                    .is_some()
                {
                    tonic::Status::unavailable("the credential could not be checked; try again")
                } else {
                    tonic::Status::unauthenticated(
                        "this service needs credentials: send `authorization: Bearer …` metadata",
                    )
                },
            );
        };
        let (plugin, access) = self.table.grpc_service(path)?;
        if let Access::Permission(permission) = access {
            let authz = AuthzRequest {
                resource: plugin,
                action: permission,
                tenant: identity.tenant.as_deref(),
            };
            if !self.stack.authorize(identity, &authz).await {
                return Some(tonic::Status::permission_denied(format!(
                    "this service needs the `{permission}` permission"
                )));
            }
        }
        None
    }
}
