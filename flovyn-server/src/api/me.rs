//! `GET /api/v1/me`: the caller's identity.

use flovyn_sdk::Identity;

/// Who is calling.
///
/// The caller as the server authenticated it: the admin token, or a credential a plugin
/// authenticator accepts (a worker token, say).
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "core",
    operation_id = "core.me",
    responses(
        (status = 200, description = "The caller", body = Identity),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The credentials cannot be checked now (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn me(who: Identity) -> axum::Json<Identity> {
    axum::Json(who)
}
