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

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision, Protocol};
use flovyn_sdk::{
    Access, ApiError, Identity, Method, PluginDescriptor, PluginInstance, PrincipalType,
};
use futures_util::FutureExt as _;

use crate::app::RunningPlugin;

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
        if constant_time_eq(token.as_bytes(), admin.as_bytes()) {
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

/// Compares without an early exit, so timing does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The composed authenticators and authorizers.
#[derive(Clone)]
pub struct AuthStack {
    core: Credentials,
    authenticators: Arc<[(&'static str, Arc<dyn PluginInstance>)]>,
    authorizers: Arc<[(&'static str, Arc<dyn PluginInstance>)]>,
}

/// The middleware's state: the stack, and the `Authz` handle on it that every request
/// carries (built once, cloned per request).
#[derive(Clone, Debug)]
pub struct Identify {
    stack: AuthStack,
    authz: flovyn_sdk::auth::Authz,
}

impl Identify {
    /// The state of [`identify`] for `stack`.
    pub fn new(stack: AuthStack) -> Self {
        let authz = flovyn_sdk::auth::Authz::new(Arc::new(stack.clone()));
        Self { stack, authz }
    }
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

/// Marks a request whose credential could not be checked (`AuthOutcome::Unavailable`).
#[derive(Debug, Clone)]
struct AuthUnavailable;

impl AuthStack {
    /// The core authenticator plus the plugins' (in `plugins` order, i.e. start order).
    pub fn new(core: Credentials, plugins: &[RunningPlugin]) -> Self {
        let authenticators = plugins
            .iter()
            .filter(|p| p.descriptor.security_scheme().is_some())
            .map(|p| (p.descriptor.name, p.instance.clone()))
            .collect();
        let authorizers = plugins
            .iter()
            .filter(|p| p.descriptor.has_authorizer())
            .map(|p| (p.descriptor.name, p.instance.clone()))
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

/// Middleware on every request: attaches the caller's [`Identity`] when a credential is
/// recognised. Refusing is left to the routes (401 from the `Identity` extractor, or
/// [`enforce`] for plugin routes).
pub async fn identify(State(state): State<Identify>, mut request: Request, next: Next) -> Response {
    let stack = &state.stack;
    let outcome = {
        let protocol = if request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
        {
            Protocol::Grpc
        } else {
            Protocol::Http
        };
        let credentials = AuthRequest::new(
            request.headers(),
            request.method(),
            request.uri().path(),
            protocol,
        );
        stack.authenticate(&credentials).await
    };
    request.extensions_mut().insert(state.authz.clone());
    match outcome {
        AuthOutcome::Authenticated(identity) => {
            request.extensions_mut().insert(identity);
        }
        AuthOutcome::NotMine | AuthOutcome::Invalid => {}
        AuthOutcome::Unavailable(reason) => {
            tracing::error!(%reason, "credential could not be checked");
            request.extensions_mut().insert(AuthUnavailable);
        }
    }
    next.run(request).await
}

/// The access rule of every (method, full path template) of one plugin.
#[derive(Debug, Clone)]
pub struct AccessTable {
    plugin: &'static str,
    /// Full path template → the access of each method served there.
    routes: Arc<HashMap<String, Vec<(Method, Access)>>>,
    stack: AuthStack,
}

impl AccessTable {
    /// The table of `plugin`'s routes, authorized through `stack`.
    pub fn new(plugin: &PluginDescriptor, stack: AuthStack) -> Self {
        let mut routes: HashMap<String, Vec<(Method, Access)>> = HashMap::new();
        for r in plugin.routes() {
            routes
                .entry(plugin.served_path(r.path))
                .or_default()
                .push((r.method, r.access));
        }
        Self {
            plugin: plugin.name,
            routes: Arc::new(routes),
            stack,
        }
    }

    /// The access of `method` on `path`; HEAD is answered by the GET handler, so it is
    /// guarded like GET.
    fn access(&self, method: Method, path: &str) -> Option<Access> {
        let methods = self.routes.get(path)?;
        let find = |m: Method| methods.iter().find(|(mm, _)| *mm == m).map(|(_, a)| *a);
        find(method).or_else(|| {
            if method == Method::Head {
                find(Method::Get)
            } else {
                None
            }
        })
    }
}

/// Route middleware of a plugin router: allow or refuse by the matched route's access.
pub async fn enforce(State(table): State<AccessTable>, request: Request, next: Next) -> Response {
    let access = match (
        Method::parse(request.method().as_str()),
        request.extensions().get::<MatchedPath>(),
    ) {
        (Ok(method), Some(path)) => table.access(method, path.as_str()),
        _ => None,
    };
    let Some(access) = access else {
        // No handler for this method: the router answers 405 without running one.
        return next.run(request).await;
    };
    if access == Access::Public {
        return next.run(request).await;
    }
    let Some(identity) = request.extensions().get::<Identity>() else {
        if request.extensions().get::<AuthUnavailable>().is_some() {
            return ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "credentials cannot be checked right now; retry later",
            )
            .into_response();
        }
        return ApiError::unauthorized().into_response();
    };
    if let Access::Permission(permission) = access {
        let authz = AuthzRequest {
            resource: table.plugin,
            action: permission,
            tenant: identity.tenant.as_deref(),
        };
        if !table.stack.authorize(identity, &authz).await {
            return ApiError::forbidden(format!(
                "this operation needs the `{permission}` permission"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// `GET /api/v1/me`: the caller's identity; 401 without one.
pub async fn me(who: Identity) -> axum::Json<Identity> {
    axum::Json(who)
}
