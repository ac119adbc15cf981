//! [`Json`]: the JSON request body that is checked against the schema the spec publishes for
//! it (decision 0017), and the JSON response.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::ApiError;
use crate::validate::BodyError;

/// A JSON body, as a handler argument or a response.
///
/// As an argument it answers, before the handler runs: **415** when the content type is not
/// `application/json` (or `application/*+json`), **413** past the body limit, **400** when the
/// body is not JSON, and **422** when it does not match `T`'s schema — every constraint in
/// `#[schema(...)]` (lengths, ranges, patterns, formats) as well as types and required
/// fields, each violation named by its field. The operation documents all four.
///
/// ```
/// use flovyn_sdk::prelude::*;
///
/// #[derive(serde::Deserialize, ToSchema)]
/// struct NewNote {
///     /// 1–80 characters.
///     #[schema(min_length = 1, max_length = 80)]
///     title: String,
/// }
///
/// async fn create(Json(note): Json<NewNote>) -> Json<String> {
///     // `note.title` is 1–80 characters here.
///     Json(note.title)
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> From<T> for Json<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned + ToSchema + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be `application/json` (a `Content-Type: application/json` header)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "payload_too_large",
                    "the request body is larger than the limit",
                )
            } else {
                ApiError::new(status, "bad_request", rejection.body_text())
            }
        })?;
        crate::validate::read_json::<T>(&bytes)
            .map(Json)
            .map_err(|e| match e {
                BodyError::NotJson(e) => {
                    ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
                }
                BodyError::Invalid(violations) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable_entity",
                    format!("the request body does not match its schema: {violations}"),
                ),
            })
    }
}

/// `application/json`, or a JSON-based type such as `application/merge-patch+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
