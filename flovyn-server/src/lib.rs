//! The Flovyn server: collects every linked plugin and serves them as one axum application.
//!
//! This is the first slice of the server: the plugin registry, each plugin constructed and
//! started in name order, its routes nested under `/api/v1/p/<plugin>` behind the access
//! check its `#[route]` declares, the merged OpenAPI document and the health endpoint.
//! Database, migrations, configuration and the full auth stack come next.

pub mod access;
pub mod app;
pub mod openapi;
pub mod router;

// The plugins this build serves. Naming the crates makes rustc link them, which is what
// registers their descriptors.
use hello as _;
