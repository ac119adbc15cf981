//! Who is calling, and may they: authenticating credentials into an [`Identity`] and
//! enforcing each plugin route's declared access (`public`, authenticated,
//! `permission = …`).
//!
//! This slice knows one credential: the admin bearer token (`FLOVYN_ADMIN_TOKEN`), which
//! grants every permission. Protected routes answer 401 without a recognised credential and
//! 403 without the route's permission, before the handler runs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flovyn_sdk::{Access, ApiError, Identity, Method, PluginDescriptor, PrincipalType};

/// The credentials the server accepts.
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

    /// The identity behind the request's credentials, if they are recognised.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<Identity> {
        let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?;
        let admin = self.admin_token.as_deref()?;
        constant_time_eq(token.as_bytes(), admin.as_bytes()).then(admin_identity)
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

/// Middleware on every request: attaches the caller's [`Identity`] when the credentials
/// are recognised. Refusing is left to the routes (401 from the `Identity` extractor, or
/// [`enforce`] for plugin routes).
pub async fn identify(
    State(credentials): State<Credentials>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(identity) = credentials.authenticate(request.headers()) {
        request.extensions_mut().insert(identity);
    }
    next.run(request).await
}

/// The access rule of every (method, full path template) of one plugin.
#[derive(Debug, Clone)]
pub struct AccessTable {
    routes: Arc<HashMap<(Method, String), Access>>,
}

impl AccessTable {
    /// The table of `plugin`'s routes.
    pub fn new(plugin: &PluginDescriptor) -> Self {
        let prefix = plugin.route_prefix();
        let routes = plugin
            .routes()
            .iter()
            .map(|r| ((r.method, full_path(&prefix, r.path)), r.access))
            .collect();
        Self {
            routes: Arc::new(routes),
        }
    }
}

/// `/api/v1/p/hello` + `/greeting`; the plugin root `/` is the prefix itself.
pub fn full_path(prefix: &str, path: &str) -> String {
    if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

/// Route middleware of a plugin router: allow or refuse by the matched route's access.
pub async fn enforce(State(table): State<AccessTable>, request: Request, next: Next) -> Response {
    let method = Method::parse(request.method().as_str()).ok();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let access = match (method, matched) {
        (Some(m), Some(p)) => table.routes.get(&(m, p.clone())).copied().or_else(|| {
            // axum answers HEAD with the GET handler: it must be guarded like GET.
            (m == Method::Head)
                .then(|| table.routes.get(&(Method::Get, p)).copied())
                .flatten()
        }),
        _ => None,
    };
    let Some(access) = access else {
        // No handler for this method: the router answers 405 without running one.
        return next.run(request).await;
    };
    let identity = request.extensions().get::<Identity>();
    let allowed = match (access, identity) {
        (Access::Public, _) => Ok(()),
        (_, None) => Err(ApiError::unauthorized()),
        (Access::Authenticated, Some(_)) => Ok(()),
        (Access::Permission(p), Some(who)) if who.has_permission(p) => Ok(()),
        (Access::Permission(p), Some(_)) => Err(ApiError::forbidden(format!(
            "this operation needs the `{p}` permission"
        ))),
    };
    match allowed {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/me`: the caller's identity; 401 without one.
pub async fn me(who: Identity) -> axum::Json<Identity> {
    axum::Json(who)
}
