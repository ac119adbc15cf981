//! Publishes this plugin crate to the servers that depend on it (`links` metadata).

fn main() {
    flovyn_build::plugin_crate();
}
