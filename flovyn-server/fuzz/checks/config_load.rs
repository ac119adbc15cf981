//! Feeds arbitrary text to `Config::load` as a configuration file and as environment
//! variables.
//!
//! The input is split at its first NUL byte: what comes before is written as the TOML file
//! passed with `file`; each `KEY=VALUE` line after it becomes a variable (prefixed with
//! `FLOVYN_` unless it already is, or is `DATABASE_URL`), so both sources and their merge are
//! exercised. Any error is fine; a panic is a finding (the server would crash at startup
//! instead of naming the bad key).
//!
//! Shared by the libFuzzer binary (`fuzz_targets/config_load.rs`) and the test suite's short
//! smoke run; it panics when the property does not hold.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use flovyn_server::config::{Config, ConfigError, Sources};

/// One file per fuzzing process, rewritten for every input.
fn config_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("flovyn-config-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        dir.join("flovyn.toml")
    })
}

/// Checks the target's property on one input.
pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, vars) = text.split_once('\0').unwrap_or((text, ""));
    let mut env = BTreeMap::new();
    for line in vars.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = if key.starts_with("FLOVYN_") || key == "DATABASE_URL" {
            key.to_owned()
        } else {
            format!("FLOVYN_{key}")
        };
        env.insert(key, value.to_owned());
    }
    let file = config_file();
    std::fs::write(file, toml).expect("write the config file");
    let sources = Sources {
        file: Some(file.clone()),
        env: Some(env),
        listen: None,
    };
    match Config::load(&sources) {
        Ok(config) => {
            let _ = config.origins.of("listen");
        }
        Err(ConfigError::Invalid(message)) => assert!(!message.is_empty()),
        Err(e @ ConfigError::MissingFile(_)) => panic!("the file exists: {e}"),
    }
}
