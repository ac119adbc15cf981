//! The request body limit: 413 at once when the declared length is over the limit, and a
//! body that grows past it fails to read (the extractors answer 413).

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::response::Response;

/// The 413 of a body declared larger than `limit`; otherwise caps the body, unless it is
/// known to be empty (most GETs), which costs nothing.
pub(crate) fn limit(request: &mut Request, limit: usize) -> Option<Response> {
    let body = request.body();
    if body.is_end_stream() {
        return None;
    }
    if body.size_hint().lower() > limit as u64 {
        return Some(crate::http::errors::too_large(limit));
    }
    let body = std::mem::replace(request.body_mut(), Body::empty());
    *request.body_mut() = Body::new(http_body_util::Limited::new(body, limit));
    None
}
