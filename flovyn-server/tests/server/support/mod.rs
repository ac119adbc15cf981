//! Shared test helpers: a real PostgreSQL server, and spawning the `flovyn-server` binary.
#![allow(dead_code)]
pub mod db;
pub mod pg;
pub mod process;
pub mod proxy;
pub mod python;

/// Whether the tests run under CI (`CI` set, not `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether a test can use `tool`: fails under CI when it is missing, skips otherwise.
pub fn required_tool(tool: &str, available: bool, install: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !in_ci(),
        "{tool} is required under CI=true but is not installed; install it with: {install}"
    );
    eprintln!("skipped: {tool} is not installed (install it with: {install})");
    false
}

/// Whether `python3` can import `modules` (`"jsonschema, tomllib"`).
pub fn python_imports(modules: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
