//! Compile-fail and compile-pass fixtures for the Flovyn macros. See `ui-tests/README.md`.

#[test]
#[allow(unsafe_code)]
fn ui() {
    // The fixtures define plugins that no server links, in a crate without a build script:
    // they get the variable a plugin crate's build script sets
    // (`flovyn_build::plugin_crate()`), so `#[flovyn_plugin]`'s linking check lets them through.
    // SAFETY: the only test of this binary, before any thread that could read the environment.
    unsafe { std::env::set_var("FLOVYN_PLUGIN_CRATE", "ui_tests") };
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*/*.rs");
}
