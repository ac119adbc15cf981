//! Writes the source of plugins gen-001 … gen-100 to `$OUT_DIR/plugins.rs`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    plugin_gen::write(1..=100);
}
