//! The plugins' middleware between the edge and the router: every `#[middleware]` of the
//! running plugins, ordered (priority, then plugin name, then declaration order; smaller
//! priority outermost) and each applied only to requests in its scope.
//!
//! With no plugin middleware the router is called directly: the chain costs nothing then.
//! The edge has already identified the caller and checked the route's access, so
//! middleware sees the [`Identity`](flovyn_sdk::Identity) in the request's extensions.
//! Whether a plugin may scope beyond its prefix is decided at start-up (`startup::plan`).
//!
//! Middleware must not change the request's path: access was checked for the path the
//! request came with, and scopes were matched on it. The chain remembers that path and, at
//! its inner end, refuses a request whose path changed (500, logged), rather than route it
//! somewhere its access was never checked.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use flovyn_sdk::ApiError;
use flovyn_sdk::descriptor::{Middleware, MiddlewareId};
use flovyn_sdk::middleware::Downstream;
use futures_util::future::Either;
use tower::Service;

use crate::host::RunningPlugin;

/// What the edge calls: the router, or the router inside the plugins' middleware.
#[derive(Clone)]
pub enum Inner {
    /// No plugin middleware.
    Router(Router),
    /// The router wrapped by every plugin middleware.
    Layered(Downstream),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inner::Router(_) => "Inner::Router",
            Inner::Layered(_) => "Inner::Layered",
        })
    }
}

/// One middleware in the order it applies, as `/_/plugins` and tests see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    /// The plugin.
    pub plugin: &'static str,
    /// The middleware's name.
    pub name: &'static str,
    /// Its priority.
    pub priority: i32,
}

/// One middleware of a running plugin: the plugin's position in `plugins`, and the entry of
/// its descriptor.
type Entry = (usize, MiddlewareId, &'static Middleware);

/// Every middleware of `plugins` in the order it applies, outermost first: priority, then
/// plugin name, then declaration order.
fn ordered(plugins: &[RunningPlugin]) -> Vec<Entry> {
    let mut all: Vec<((i32, &'static str, usize), Entry)> = plugins
        .iter()
        .enumerate()
        .flat_map(|(plugin, p)| {
            p.descriptor
                .middleware
                .iter()
                .enumerate()
                .map(move |(i, m)| {
                    let id = MiddlewareId(u32::try_from(i).unwrap_or(u32::MAX));
                    ((m.priority, p.descriptor.name.as_str(), i), (plugin, id, m))
                })
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter().map(|(_, entry)| entry).collect()
}

/// `router` inside the middleware of `plugins`.
pub fn chain(router: Router, plugins: &[RunningPlugin]) -> Inner {
    let ordered = ordered(plugins);
    if ordered.is_empty() {
        return Inner::Router(router);
    }
    // Each plugin's middleware, in its descriptor's order (position = `MiddlewareId`).
    let built: Vec<Vec<flovyn_sdk::middleware::Middleware>> = plugins
        .iter()
        .map(|p| p.instance.clone().middleware())
        .collect();
    // Built from the inside out: the last in order wraps the router first.
    let mut route = Downstream::new(SamePath(router));
    for (plugin, id, m) in ordered.into_iter().rev() {
        let p = &plugins[plugin];
        if p.backend.applies_middleware() {
            // Its process wraps its own routes (the plan kept its scopes within them).
            continue;
        }
        let Some(layer) = built[plugin].get(id.index()) else {
            tracing::error!(plugin = %p.descriptor.name, middleware = %m.name, "the plugin did not build this middleware");
            continue;
        };
        route = layer.wrap_scoped(m.scopes(&p.descriptor.name), route);
    }
    Inner::Layered(route)
}

/// The order the middleware of `plugins` applies in, outermost first.
pub fn order(plugins: &[RunningPlugin]) -> Vec<Applied> {
    ordered(plugins)
        .into_iter()
        .map(|(plugin, _, m)| Applied {
            plugin: &plugins[plugin].descriptor.name,
            name: &m.name,
            priority: m.priority,
        })
        .collect()
}

impl Service<Request> for Inner {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<<Router as Service<Request>>::Future, <Downstream as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self {
            Inner::Router(r) => <Router as Service<Request>>::poll_ready(r, cx),
            Inner::Layered(r) => r.poll_ready(cx),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Inner::Router(r) => Either::Left(r.call(request)),
            Inner::Layered(r) => {
                let mut request = request;
                let path = EntryPath(request.uri().path().to_owned());
                request.extensions_mut().insert(path);
                Either::Right(r.call(request))
            }
        }
    }
}

/// The path a request entered the middleware chain with (its access was checked for it).
#[derive(Clone)]
struct EntryPath(String);

/// The router at the inner end of the chain, refusing a request whose path a middleware
/// changed.
#[derive(Clone)]
struct SamePath(Router);

impl Service<Request> for SamePath {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        <Router as Service<Request>>::Future,
        std::future::Ready<Result<Response, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        <Router as Service<Request>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let changed = request
            .extensions()
            .get::<EntryPath>()
            .is_some_and(|entry| entry.0 != request.uri().path());
        if changed {
            tracing::error!(
                path = request.uri().path(),
                "a plugin middleware changed the request's path: refused"
            );
            let refused = axum::response::IntoResponse::into_response(ApiError::internal(
                "a middleware changed the request's path",
            ));
            return Either::Right(std::future::ready(Ok(refused)));
        }
        Either::Left(self.0.call(request))
    }
}
