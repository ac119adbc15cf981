//! Middleware plugins put around requests: a [`Middleware`] wraps the rest of the request
//! path, with a priority and a path scope declared by `#[middleware]`.
//!
//! ```
//! use flovyn_sdk::prelude::*;
//! use flovyn_sdk::middleware::{Middleware, Next, Request};
//!
//! /// Stamps every response of this plugin.
//! #[flovyn_plugin(name = "stamp")]
//! #[derive(Debug, Default)]
//! pub struct Stamp;
//!
//! #[plugin_impl]
//! impl Stamp {
//!     #[middleware(priority = 50)]
//!     fn stamp(&self) -> Middleware {
//!         Middleware::from_fn(|request: Request, next: Next| async move {
//!             let mut response = next.run(request).await;
//!             response.headers_mut().insert("x-stamp", "1".parse().unwrap());
//!             response
//!         })
//!     }
//! }
//! # assert_eq!(Stamp::descriptor().middleware[0].priority, 50);
//! ```
//!
//! How the server applies them:
//! - **Where**: inside the server's edge, after authentication and the route's access
//!   check (a middleware sees the caller's [`Identity`](crate::Identity) in the request's
//!   extensions), around the route itself.
//! - **Order**: by `priority`, smaller first (outermost), then by plugin name, then in
//!   declaration order. The default priority is [`DEFAULT_PRIORITY`].
//! - **Scope**: a middleware sees only requests whose path is in its `paths`; without
//!   `paths`, its own plugin's prefix (`/api/v1/p/<plugin>/*`). A scope beyond that prefix
//!   needs the operator's consent, `[plugins.<name>] global_middleware = true`; without it
//!   the server refuses to start, naming the plugin and the path.
//! - **Out of process** (`mode = "process"`): the plugin's process applies its middleware
//!   around its own routes, in the same order, inside whatever middleware of linked plugins
//!   the server applies to them. A scope beyond its own prefix cannot be served from a
//!   process: the server refuses to start such a plugin out of process.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt as _};

/// The request type middleware handles.
pub type Request = axum::extract::Request;
/// The response type middleware returns.
pub type Response = axum::response::Response;

/// The rest of the request path, as a service: what a [`Middleware`] wraps (other
/// middleware, then the route).
pub type Downstream = BoxCloneSyncService<Request, Response, Infallible>;

/// The priority of a `#[middleware]` that gives none.
pub const DEFAULT_PRIORITY: i32 = 100;

/// A plugin's middleware: how to wrap the rest of the request path.
#[derive(Clone)]
pub struct Middleware(Arc<dyn Fn(Downstream) -> Downstream + Send + Sync>);

impl std::fmt::Debug for Middleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Middleware")
    }
}

impl Middleware {
    /// A middleware from a tower layer over [`Downstream`] whose service is `Clone + Send +
    /// Sync` and infallible — mapping layers (`MapRequestLayer`, `MapResponseLayer`), your
    /// own. Fallible layers (timeouts, rate limits, load shedding) must first turn their
    /// errors into responses (axum's `HandleErrorLayer` does); or write the middleware with
    /// [`Middleware::from_fn`].
    ///
    /// A middleware must not change the request's path: the server refuses such a request
    /// (500), since its access was checked for the path it came with.
    pub fn layer<L>(layer: L) -> Self
    where
        L: Layer<Downstream> + Send + Sync + 'static,
        L::Service: Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        Middleware(Arc::new(move |inner| {
            BoxCloneSyncService::new(layer.layer(inner))
        }))
    }

    /// A middleware from an async function of the request and the [`Next`] step.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn(Request, Next) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        Middleware(Arc::new(move |inner: Downstream| {
            let f = f.clone();
            BoxCloneSyncService::new(tower::service_fn(move |request: Request| {
                let next = Next(inner.clone());
                let response = f(request, next);
                async move { Ok::<_, Infallible>(response.await) }
            }))
        }))
    }

    /// `inner` wrapped by this middleware.
    pub fn wrap(&self, inner: Downstream) -> Downstream {
        (self.0)(inner)
    }

    /// `inner` wrapped by this middleware for requests whose path is in one of `scopes`;
    /// others go straight to `inner` (how a host applies a `#[middleware]` with its scopes).
    pub fn wrap_scoped(
        &self,
        scopes: Vec<flovyn_naming::scope::Scope>,
        inner: Downstream,
    ) -> Downstream {
        BoxCloneSyncService::new(Scoped {
            scopes,
            with: self.wrap(inner.clone()),
            without: inner,
        })
    }
}

/// A middleware applied only to requests in its scopes; others go straight on.
#[derive(Clone)]
struct Scoped {
    scopes: Vec<flovyn_naming::scope::Scope>,
    with: Downstream,
    without: Downstream,
}

impl Service<Request> for Scoped {
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // Readiness of the chosen path is awaited in the future (`oneshot`).
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        let next = if self.scopes.iter().any(|s| s.matches(path)) {
            self.with.clone()
        } else {
            self.without.clone()
        };
        Box::pin(next.oneshot(request))
    }
}

/// The rest of the request path, for [`Middleware::from_fn`].
#[derive(Debug)]
pub struct Next(Downstream);

impl Next {
    /// Runs the rest of the request path.
    pub async fn run(self, request: Request) -> Response {
        match self.0.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}
