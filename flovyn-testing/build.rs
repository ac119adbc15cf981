//! Publishes this plugin crate to the servers that depend on it (`links` metadata), so they
//! link it with no edit naming it.

fn main() {
    flovyn_build::plugin_crate();
}
