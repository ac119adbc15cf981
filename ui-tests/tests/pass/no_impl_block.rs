//! A plugin with migrations only: no `#[plugin_impl]` block, built with `Default`.
use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "schema-only")]
#[migration(1, "create", sql = "CREATE TABLE p_schema_only__things (id BIGINT PRIMARY KEY)")]
#[derive(Default)]
pub struct SchemaOnly;

fn main() {
    let d = SchemaOnly::descriptor();
    assert!(d.routes.is_empty());
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(d.description, "");
}
