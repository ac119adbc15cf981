//! Compile-fail and compile-pass fixtures for the Flovyn macros. See `ui-tests/README.md`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*/*.rs");
}
