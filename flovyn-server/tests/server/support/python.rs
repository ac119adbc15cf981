//! The Python environment `scripts/python-env` makes (`target/python`: the Python SDK and the
//! example `notes` plugin built from this checkout). `./scripts/test` makes it before the
//! suite; a test that needs it and does not find it fails under CI (`CI=true`) and is skipped
//! with a message elsewhere.

use std::path::PathBuf;

/// The `notes-plugin` executable of the example Python plugin, when the environment exists.
pub fn notes_plugin() -> Option<PathBuf> {
    in_env("bin/notes-plugin")
}

/// The environment's interpreter (with the SDK installed), when the environment exists.
pub fn interpreter() -> Option<PathBuf> {
    in_env("bin/python")
}

/// A program of the environment (`bin/<name>`), when the environment exists.
pub fn program(name: &str) -> Option<PathBuf> {
    in_env(&format!("bin/{name}"))
}

fn in_env(path: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("FLOVYN_PYTHON_ENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python"),
        PathBuf::from,
    );
    let found = venv.join(path);
    if found.exists() {
        return Some(found);
    }
    let why = format!(
        "{} is missing: run `scripts/python-env` (./scripts/test does)",
        found.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}
