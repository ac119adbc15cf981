//! Publishes this plugin crate to the servers that depend on it; writes the source of
//! plugins gen-101 … gen-200 to `$OUT_DIR/plugins.rs`.
fn main() {
    flovyn_build::plugin_crate();
    println!("cargo:rerun-if-changed=build.rs");
    plugin_gen::write(101..=200);
}
