//! Builds the whole `Router` from the running state: core routes, each plugin's router
//! nested at `/api/v1/p/<name>` behind its access check, and the layers every request
//! passes through (outermost first):
//!
//! 1. request id (`x-request-id`, generated when absent, echoed on the response);
//! 2. a tracing span per request, with the plugin name;
//! 3. metrics (per plugin: count by method and status, latency);
//! 4. JSON errors: any 4xx/5xx that is not already JSON becomes
//!    `{"error":{"code":…,"message":…}}`; 5xx never carry internals, only the request id;
//! 5. panic catching (500, the server keeps serving);
//! 6. request timeout (408) and body-size limit (413);
//! 7. authentication (attaches the caller's `Identity`).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flovyn_sdk::ApiError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::access::{self, AccessTable, AuthStack, Credentials};
use crate::app::AppState;
use crate::{admin, metrics, tenants};

const REQUEST_ID: &str = "x-request-id";

/// The application router for `state`.
pub fn build_router(state: AppState) -> Router {
    let spec = crate::openapi::merged(state.plugins().iter().map(|p| p.descriptor));
    let metrics = state.metrics().clone();
    let stack = AuthStack::new(
        Credentials::new(state.config().admin_token.as_deref()),
        state.plugins(),
    );
    let http = state.config().http.clone();

    let mut router = Router::new()
        .route("/_/health", get(admin::health))
        .route("/_/plugins", get(admin::plugins))
        .route("/api/v1/me", get(access::me))
        .route("/api/v1/tenants", get(tenants::list).post(tenants::create))
        .route("/api/v1/tenants/{id}", get(tenants::get))
        .with_state(state.clone())
        .route(
            "/metrics",
            get(metrics::endpoint).with_state(metrics.clone()),
        )
        .merge(crate::openapi::routes(spec));
    for plugin in state.plugins() {
        let table = AccessTable::new(plugin.descriptor, stack.clone());
        let plugin_router = plugin
            .instance
            .clone()
            .router()
            .route_layer(middleware::from_fn_with_state(table, access::enforce));
        router = router.nest(&plugin.descriptor.route_prefix(), plugin_router);
    }

    // Each `layer` call wraps the ones before it: the last is the outermost.
    router
        .fallback(|| async { ApiError::not_found("no route for this path") })
        .layer(middleware::from_fn_with_state(
            access::Identify::new(stack),
            access::identify,
        ))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                // The payload is never sent: it may hold internals. `json_errors` turns this into
                // the JSON body with the request id.
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            },
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    plugin = metrics::plugin_of(request.uri().path()),
                    request_id,
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Error responses that are not JSON yet (axum's 405 and extractor rejections, the 413 of
/// the body limit, the 408 of the timeout, panics) become the standard error body.
async fn json_errors(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = if status.is_server_error() {
        let id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        format!("internal error (request id {id})")
    } else {
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            text
        }
    };
    let error = ApiError::new(status, code(status), message);
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The machine-readable code for a status: `method_not_allowed`, `payload_too_large`…
fn code(status: StatusCode) -> String {
    if status.is_server_error() {
        return "internal".to_owned();
    }
    status
        .canonical_reason()
        .map(|r| r.to_lowercase().replace([' ', '-'], "_").replace('\'', ""))
        .unwrap_or_else(|| format!("http_{}", status.as_u16()))
}
