//! The merged OpenAPI document: every plugin's document (already carrying full paths,
//! namespaced operationIds and its tag) merged under the server's info, and its routes.

use axum::Json;
use axum::routing::get;
use flovyn_sdk::PluginDescriptor;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

/// The server's document with every plugin in `plugins` merged in.
pub fn merged<'a>(plugins: impl IntoIterator<Item = &'a PluginDescriptor>) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Flovyn")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("The Flovyn server and its plugins."))
                .build(),
        )
        .build();
    for plugin in plugins {
        doc.merge(plugin.openapi());
    }
    doc
}

/// `GET /api-docs/openapi.json`.
pub fn routes(spec: OpenApi) -> axum::Router {
    axum::Router::new().route(
        "/api-docs/openapi.json",
        get(move || async move { Json(spec) }),
    )
}
