//! Writes the source of plugins gen-101 … gen-200 to `$OUT_DIR/plugins.rs`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    plugin_gen::write(101..=200);
}
