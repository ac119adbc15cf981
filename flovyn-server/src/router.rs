//! Builds the whole `Router` from the running state: core routes, each plugin's routes
//! at `/api/v1/p/<name>/…`, the plugins' middleware around them (`crate::http::middleware`), and
//! around it all the request path of `crate::http::edge` (request id, tracing, body limit,
//! timeout, panics, access, JSON errors, metrics).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use flovyn_sdk::ApiError;

use crate::api::{admin, me, tenants};
use crate::host::routes::RouteTable;
use crate::http::access::{AuthStack, Credentials, Gate};
use crate::http::edge::{Edge, EdgeService};
use crate::http::metrics;
use crate::http::middleware::Inner;
use crate::startup::AppState;

/// The whole application: the edge in front of the plugins' middleware and axum's router.
pub type App = EdgeService<Inner>;

/// The application for `state`.
pub fn build_router(state: AppState) -> App {
    let described: Vec<_> = state.plugins().iter().map(|p| p.descriptor).collect();
    let spec = crate::api::openapi::merged(described.iter().copied());
    let metrics = state.metrics().clone();
    let stack = AuthStack::new(
        Credentials::new(state.config().admin_token.as_deref()),
        state.plugins(),
    );
    let http = state.config().http.clone();

    let mut router = Router::new()
        .route("/_/health", get(admin::health))
        .route("/_/ready", get(admin::ready))
        .route("/_/plugins", get(admin::plugins))
        .route(
            "/_/plugins/{plugin}/dead-letters/{event_id}/replay",
            axum::routing::post(admin::replay),
        )
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/tenants", get(tenants::list).post(tenants::create))
        .route("/api/v1/tenants/{id}", get(tenants::get))
        .with_state(state.clone())
        .route(
            "/metrics",
            get(metrics::endpoint).with_state(metrics.clone()),
        )
        .merge(crate::api::openapi::routes(spec));
    // Each route at its full path, not a nested router: `nest` would strip the prefix
    // from every request's URI (an allocation and a second parse per request).
    // The i-th handler serves the i-th route of the plugin's descriptor.
    for plugin in state.plugins() {
        for (route, handlers) in plugin
            .descriptor
            .routes
            .iter()
            .zip(plugin.instance.clone().routes())
        {
            router = router.route(&plugin.descriptor.served_path(&route.path), handlers);
        }
    }

    let edge = Edge::new(
        Gate::new(stack, Arc::new(RouteTable::new(&described))),
        metrics,
        Duration::from_secs(http.request_timeout_secs),
        http.body_limit_bytes,
    );
    let router = router.fallback(|| async { ApiError::not_found("no route for this path") });
    EdgeService::new(
        edge,
        crate::http::middleware::chain(router, state.plugins()),
        crate::http::grpc::router(state.plugins()),
    )
}
