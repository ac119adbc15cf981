//! Builds the whole `Router` from the running plugins: core routes, then each plugin's
//! router nested at `/api/v1/p/<name>` behind its access check.

use axum::routing::get;
use axum::{Json, Router};
use flovyn_sdk::ApiError;
use serde_json::json;

use crate::access::{self, AccessTable, Credentials};
use crate::app::RunningPlugin;

/// The application router.
pub fn build_router(plugins: &[RunningPlugin], credentials: Credentials) -> Router {
    let spec = crate::openapi::merged(plugins.iter().map(|p| p.descriptor));
    let health = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "plugins": plugins.iter().map(|p| json!({"name": p.descriptor.name, "version": p.descriptor.version})).collect::<Vec<_>>(),
    });
    let mut router = Router::new()
        .route("/_/health", get(move || async move { Json(health) }))
        .route(
            "/api-docs/openapi.json",
            get(move || async move { Json(spec) }),
        );
    for plugin in plugins {
        let table = AccessTable::new(plugin.descriptor, credentials.clone());
        let plugin_router = plugin
            .instance
            .clone()
            .router()
            .route_layer(axum::middleware::from_fn_with_state(table, access::enforce));
        router = router.nest(&plugin.descriptor.route_prefix(), plugin_router);
    }
    router.fallback(|| async { ApiError::not_found("no route for this path") })
}
