//! Links every plugin crate among the server's dependencies, with no edit anywhere else:
//! `$OUT_DIR/flovyn_plugins.rs` names each plugin crate cargo builds for this package (an
//! optional one only when its feature is on). See `flovyn_build` and decision 0010.

fn main() {
    flovyn_build::link_plugins();
}
