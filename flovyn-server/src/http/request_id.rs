//! The request id: the client's `x-request-id` when it sent a usable one, a new UUID
//! otherwise; in the request's span, echoed on the response, and in the request's extensions
//! (`flovyn_sdk::host::RequestId`); the request's headers are left as the client sent them.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id.
pub fn of(request: &Request) -> HeaderValue {
    if let Some(id) = request.headers().get(REQUEST_ID)
        && !id.is_empty()
    {
        return id.clone();
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// Echoes `id` on `response` (unless the handler set one).
pub fn echo(response: &mut Response, id: HeaderValue) {
    response.headers_mut().entry(REQUEST_ID).or_insert(id);
}
