//! Errors as every response gives them: JSON `{"error":{"code":…,"message":…}}`. Rewrites
//! the error responses that are not JSON yet (axum's 405, extractor rejections, panics); a 5xx
//! never carries internals, only the request id. The edge's own refusals (408, 413) too.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flovyn_sdk::ApiError;

/// 408: the request took longer than `timeout`.
pub(crate) fn timed_out(timeout: Duration) -> Response {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!("the request took longer than {} s", timeout.as_secs_f64()),
    )
    .into_response()
}

/// 413: the body is larger than `limit` bytes.
pub(crate) fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response()
}

/// Whether `response` is an error that is not JSON yet (axum's 405, extractor rejections,
/// panics), which [`json_error`] rewrites.
pub(crate) fn needs_json_body(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

/// The standard error body for an error response that is not JSON: a 4xx keeps its text
/// as the message, a 5xx says only "internal error" with the request id.
pub(crate) async fn json_error(response: Response, request_id: HeaderValue) -> Response {
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let message = if status.is_server_error() {
        let id = request_id.to_str().unwrap_or("none");
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
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The machine-readable code for a status: `method_not_allowed`, `payload_too_large`…
pub(crate) fn code(status: StatusCode) -> String {
    if status.is_server_error() {
        return "internal".to_owned();
    }
    status
        .canonical_reason()
        .map(|r| r.to_lowercase().replace([' ', '-'], "_").replace('\'', ""))
        .unwrap_or_else(|| format!("http_{}", status.as_u16()))
}
