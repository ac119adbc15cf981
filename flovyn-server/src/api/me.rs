//! `GET /api/v1/me`: the caller's identity.

use flovyn_sdk::Identity;

/// `GET /api/v1/me`: the caller's identity; 401 without one (the `Identity` extractor).
pub async fn me(who: Identity) -> axum::Json<Identity> {
    axum::Json(who)
}
