//! The SDK's doc examples and guide chapters (compiled as doc tests) define plugins that no
//! server links: they get the variable a plugin crate's build script sets
//! (`flovyn_build::plugin_crate()`), so `#[flovyn_plugin]`'s linking check lets them through.

fn main() {
    println!("cargo::rustc-env=FLOVYN_PLUGIN_CRATE=flovyn_sdk");
    println!("cargo::rerun-if-changed=build.rs");
}
