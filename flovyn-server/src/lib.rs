//! The Flovyn server: collects every linked plugin and serves them as one axum application.
//!
//! This is the first slice of the server: the plugin registry, each plugin constructed and
//! started in name order, its routes nested under `/api/v1/p/<plugin>` behind the access
//! check its `#[route]` declares, the merged OpenAPI document and the health endpoint.
//! Database, migrations, configuration and the full auth stack come next.

pub mod access;
pub mod app;
pub mod db;
pub mod migrate;
pub mod openapi;
pub mod router;

/// The plugin crates this build links (see `build.rs`): `extern crate` for each, and
/// [`linked::EXPECTED_PLUGIN_CRATES`], checked at start-up.
#[allow(unused_extern_crates)]
pub mod linked {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}
