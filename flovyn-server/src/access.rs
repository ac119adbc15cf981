//! Enforces each route's declared access (`public`, authenticated, `permission = …`).
//!
//! This first slice knows one credential: the admin bearer token from `FLOVYN_ADMIN_TOKEN`,
//! which grants every permission. Requests without a recognised credential get 401 on
//! protected routes; callers without the route's permission get 403.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flovyn_sdk::{Access, ApiError, Identity, Method, PrincipalType};

/// The credentials the server accepts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The admin token, if configured.
    pub admin_token: Option<String>,
}

impl Credentials {
    /// Reads `FLOVYN_ADMIN_TOKEN`.
    pub fn from_env() -> Self {
        Self {
            admin_token: std::env::var("FLOVYN_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    fn authenticate(&self, request: &Request) -> Option<Identity> {
        let header = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?;
        let admin = self.admin_token.as_deref()?;
        constant_time_eq(token.as_bytes(), admin.as_bytes()).then(|| Identity {
            principal_id: "admin".to_owned(),
            principal_type: PrincipalType::Admin,
            tenant: None,
            roles: vec!["admin".to_owned()],
            permissions: vec!["*".to_owned()],
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The access rule of every (method, full path template) of one plugin.
#[derive(Debug, Clone)]
pub struct AccessTable {
    routes: Arc<HashMap<(Method, String), Access>>,
    credentials: Credentials,
}

impl AccessTable {
    /// The table of `plugin`'s routes.
    pub fn new(plugin: &flovyn_sdk::PluginDescriptor, credentials: Credentials) -> Self {
        let prefix = plugin.route_prefix();
        let routes = plugin
            .routes()
            .iter()
            .map(|r| ((r.method, full_path(&prefix, r.path)), r.access))
            .collect();
        Self {
            routes: Arc::new(routes),
            credentials,
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

/// Middleware: authenticate, then allow or refuse according to the matched route's access.
pub async fn enforce(
    State(table): State<AccessTable>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = flovyn_sdk::Method::parse(request.method().as_str()).ok();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let access = match (method, matched) {
        (Some(m), Some(p)) => table.routes.get(&(m, p)).copied(),
        _ => None,
    };
    let identity = table.credentials.authenticate(&request);
    // A route that is not in the table cannot be reached: deny rather than guess.
    let access = access.unwrap_or(Access::Permission("\u{0}unreachable"));
    match (access, identity) {
        (Access::Public, identity) => {
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
        }
        (_, None) => return ApiError::unauthorized().into_response(),
        (Access::Authenticated, Some(identity)) => {
            request.extensions_mut().insert(identity);
        }
        (Access::Permission(p), Some(identity)) => {
            if !identity.has_permission(p) {
                return ApiError::forbidden(format!("this operation needs the `{p}` permission"))
                    .into_response();
            }
            request.extensions_mut().insert(identity);
        }
    }
    next.run(request).await
}
