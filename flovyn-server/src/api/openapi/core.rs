//! The server's own routes in the spec: `/api/v1/me`, the tenants, `/_/health`, `/_/ready`,
//! `/_/plugins` and the replay of a dead letter — documented next to their handlers
//! (`#[utoipa::path]`), collected here under the tag `core`.
//!
//! Not in the spec: `/metrics` (Prometheus' text format, for a scraper rather than an API
//! client) and the spec and docs pages themselves.

use utoipa::OpenApi as _;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        crate::api::me::me,
        crate::api::tenants::list,
        crate::api::tenants::create,
        crate::api::tenants::get,
        crate::api::admin::health,
        crate::api::admin::ready,
        crate::api::admin::plugins,
        crate::api::admin::replay,
    ),
    tags((name = "core", description = "The server's own API: the caller, tenants, health, plugins.")),
)]
struct CoreApi;

/// The core routes' document, with the bearer scheme their security names.
pub(super) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreApi::openapi();
    // `security(())` reads as one empty requirement (`[{}]`: credentials optional); the
    // public routes need none at all (`[]`), as the plugins' public routes say.
    for item in doc.paths.paths.values_mut() {
        for operation in super::operations(item) {
            if let Some(security) = &mut operation.security
                && security.len() == 1
                && security[0] == utoipa::openapi::security::SecurityRequirement::default()
            {
                security.clear();
            }
        }
    }
    doc.components
        .get_or_insert_with(Default::default)
        .security_schemes
        .insert(
            flovyn_sdk::openapi::BEARER_SCHEME.to_owned(),
            flovyn_sdk::openapi::bearer_scheme().into(),
        );
    doc
}
