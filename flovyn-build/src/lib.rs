//! Build-script helpers for zero-edit plugin linking.
//!
//! rustc does not link a dependency that the code never names, and a plugin that is not
//! linked never registers. Cargo's `links` metadata carries the names across without reading
//! the dependency graph (no `cargo metadata`, no network, nothing outside the build):
//!
//! - a **plugin crate** sets `links = "flovyn-plugin-<package>"` in its `[package]` table and
//!   calls [`plugin_crate`] from its `build.rs`; that publishes the crate's name as `links`
//!   metadata;
//! - cargo hands that metadata to the build script of every package that depends on the
//!   plugin directly, as `DEP_FLOVYN_PLUGIN_<PACKAGE>_CRATE` variables — only for
//!   dependencies this build actually compiles (an optional plugin whose feature is off is
//!   not there);
//! - a **server** calls [`link_plugins`] from its `build.rs`, which writes
//!   `$OUT_DIR/flovyn_plugins.rs`: one `extern crate` per plugin dependency and
//!   `EXPECTED_PLUGIN_CRATES`, the same list as data, which the server checks at start-up.
//!
//! This crate has no dependencies: it runs before anything else is compiled.
//! Why this mechanism, and what was rejected: `docs/decisions/0010-plugin-linking.md`.

// The examples are whole `build.rs` files, `fn main` included.
#![allow(clippy::needless_doctest_main)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What a plugin crate's `links` key must be: this prefix, then its package name.
pub const LINKS_PREFIX: &str = "flovyn-plugin-";

/// The file [`link_plugins`] writes into `OUT_DIR`.
pub const LINKED_FILE: &str = "flovyn_plugins.rs";

/// The variable [`plugin_crate`] sets for the plugin's own compilation: the library's crate
/// name. `#[flovyn_plugin]` reads it to tell a crate that is set up for linking from one that
/// is not.
pub const CRATE_ENV: &str = "FLOVYN_PLUGIN_CRATE";

// The environment variable that carries each piece of metadata is
// `DEP_<LINKS, upper-cased, '-' → '_'>_<KEY, upper-cased>`.
const DEP_PREFIX: &str = "DEP_FLOVYN_PLUGIN_";
const CRATE_KEY: &str = "crate";
const PACKAGE_KEY: &str = "package";

/// Call from a plugin crate's `build.rs`: publishes the crate to the servers that depend on
/// it.
///
/// ```toml
/// [package]
/// name = "hello"
/// links = "flovyn-plugin-hello"
///
/// [build-dependencies]
/// flovyn-build = "0.1"
/// ```
///
/// ```no_run
/// // build.rs
/// fn main() {
///     flovyn_build::plugin_crate();
/// }
/// ```
///
/// The library must keep its default name (the package name with `-` → `_`); a misspelt or
/// missing `links` key stops the build with a message that gives the line to write.
pub fn plugin_crate() {
    let package = env_var("CARGO_PKG_NAME");
    let links = std::env::var("CARGO_MANIFEST_LINKS").ok();
    match plugin_crate_lines(&package, links.as_deref()) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
        }
        Err(message) => fail(&format!(
            "{message}\n  --> {}",
            PathBuf::from(env_var("CARGO_MANIFEST_DIR"))
                .join("Cargo.toml")
                .display()
        )),
    }
}

/// Call from a server's `build.rs`: writes `$OUT_DIR/flovyn_plugins.rs` with an
/// `extern crate` for every plugin crate this package depends on directly, and
/// `EXPECTED_PLUGIN_CRATES` (package names, sorted).
///
/// ```no_run
/// // build.rs
/// fn main() {
///     flovyn_build::link_plugins();
/// }
/// ```
///
/// `flovyn_server::main!()` includes the file; a server that builds its own `main` can
/// `include!(concat!(env!("OUT_DIR"), "/flovyn_plugins.rs"))` in a module.
pub fn link_plugins() {
    let source = match linked_source(std::env::vars()) {
        Ok(source) => source,
        Err(message) => fail(&message),
    };
    let path = PathBuf::from(env_var("OUT_DIR")).join(LINKED_FILE);
    if let Err(e) = std::fs::write(&path, source) {
        fail(&format!("cannot write `{}`: {e}", path.display()));
    }
}

/// The build-script lines [`plugin_crate`] prints, or what is wrong with the manifest.
pub fn plugin_crate_lines(package: &str, links: Option<&str>) -> Result<Vec<String>, String> {
    let expected = format!("{LINKS_PREFIX}{package}");
    match links {
        Some(links) if links == expected => {}
        Some(links) => {
            return Err(format!(
                "plugin crate `{package}` has `links = \"{links}\"`: a plugin crate's `links` \
                 must be `links = \"{expected}\"` (it is how servers that depend on it find it)"
            ));
        }
        None => {
            return Err(format!(
                "plugin crate `{package}` has no `links` key: add `links = \"{expected}\"` to \
                 its `[package]` table (it is how servers that depend on it find it)"
            ));
        }
    }
    let crate_name = package.replace('-', "_");
    Ok(vec![
        format!("cargo::metadata={CRATE_KEY}={crate_name}"),
        format!("cargo::metadata={PACKAGE_KEY}={package}"),
        format!("cargo::rustc-env={CRATE_ENV}={crate_name}"),
    ])
}

/// The source [`link_plugins`] writes, from the build script's environment.
pub fn linked_source(vars: impl IntoIterator<Item = (String, String)>) -> Result<String, String> {
    // links key (upper-cased) → (crate name, package name)
    let mut found: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix(DEP_PREFIX) else {
            continue;
        };
        if let Some(links) = rest.strip_suffix(&format!("_{}", CRATE_KEY.to_uppercase())) {
            found.entry(links.to_owned()).or_default().0 = Some(value);
        } else if let Some(links) = rest.strip_suffix(&format!("_{}", PACKAGE_KEY.to_uppercase())) {
            found.entry(links.to_owned()).or_default().1 = Some(value);
        }
    }
    let mut plugins = Vec::with_capacity(found.len());
    for (links, entry) in found {
        match entry {
            (Some(crate_name), Some(package)) if is_identifier(&crate_name) => {
                plugins.push((package, crate_name))
            }
            (Some(crate_name), Some(_)) => {
                return Err(format!(
                    "plugin dependency `{links}` published `{crate_name}`, which is not a crate name"
                ));
            }
            _ => {
                return Err(format!(
                    "plugin dependency with links `flovyn-plugin-{}` published half of its metadata \
                     (it needs both `{CRATE_KEY}` and `{PACKAGE_KEY}`): call \
                     `flovyn_build::plugin_crate()` from its build script",
                    links.to_lowercase().replace('_', "-")
                ));
            }
        }
    }
    plugins.sort();

    let mut out = String::from(
        "// Generated by `flovyn_build::link_plugins()`: the plugin crates this package depends\n\
         // on directly. Naming each one makes rustc link it, so its plugins register.\n",
    );
    for (_, crate_name) in &plugins {
        let _ = writeln!(
            out,
            "#[allow(unused_extern_crates)]\nextern crate {crate_name};"
        );
    }
    out.push_str(
        "\n/// The plugin crates (package names) this package links: each must register at \
         least one plugin.\npub const EXPECTED_PLUGIN_CRATES: &[&str] = &[",
    );
    let packages: Vec<String> = plugins.iter().map(|(p, _)| format!("{p:?}")).collect();
    out.push_str(&packages.join(", "));
    out.push_str("];\n");
    Ok(out)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        fail(&format!(
            "`{name}` is not set: call this from a build script"
        ))
    })
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_plugin_crate_publishes_its_crate_and_package() {
        let lines = plugin_crate_lines("worker-token", Some("flovyn-plugin-worker-token")).unwrap();
        assert_eq!(
            lines,
            [
                "cargo::metadata=crate=worker_token",
                "cargo::metadata=package=worker-token",
                "cargo::rustc-env=FLOVYN_PLUGIN_CRATE=worker_token",
            ]
        );
    }

    #[test]
    fn a_missing_or_wrong_links_key_gives_the_line_to_write() {
        let missing = plugin_crate_lines("hello", None).unwrap_err();
        assert!(
            missing.contains("add `links = \"flovyn-plugin-hello\"`"),
            "{missing}"
        );
        let wrong = plugin_crate_lines("hello", Some("hello")).unwrap_err();
        assert!(wrong.contains("`links = \"hello\"`"), "{wrong}");
        assert!(
            wrong.contains("must be `links = \"flovyn-plugin-hello\"`"),
            "{wrong}"
        );
    }

    #[test]
    fn a_server_names_each_plugin_dependency_sorted_by_package() {
        let source = linked_source(vars(&[
            ("DEP_FLOVYN_PLUGIN_WORKER_TOKEN_CRATE", "worker_token"),
            ("DEP_FLOVYN_PLUGIN_WORKER_TOKEN_PACKAGE", "worker-token"),
            ("DEP_FLOVYN_PLUGIN_AUDIT_LOG_PACKAGE", "audit-log"),
            ("DEP_FLOVYN_PLUGIN_AUDIT_LOG_CRATE", "audit_log"),
            ("DEP_OPENSSL_VERSION", "300"),
            ("CARGO_PKG_NAME", "flovyn-server"),
        ]))
        .unwrap();
        let audit = source.find("extern crate audit_log;").unwrap();
        let worker = source.find("extern crate worker_token;").unwrap();
        assert!(audit < worker, "{source}");
        assert!(
            source.contains(r#"EXPECTED_PLUGIN_CRATES: &[&str] = &["audit-log", "worker-token"];"#),
            "{source}"
        );
        assert!(!source.contains("openssl"), "{source}");
    }

    #[test]
    fn no_plugin_dependency_links_nothing() {
        let source = linked_source(vars(&[("CARGO_PKG_NAME", "my-server")])).unwrap();
        assert!(!source.contains("extern crate"), "{source}");
        assert!(
            source.contains("EXPECTED_PLUGIN_CRATES: &[&str] = &[];"),
            "{source}"
        );
    }

    #[test]
    fn half_published_metadata_is_an_error_naming_the_dependency() {
        let error = linked_source(vars(&[("DEP_FLOVYN_PLUGIN_HELLO_CRATE", "hello")])).unwrap_err();
        assert!(error.contains("`flovyn-plugin-hello`"), "{error}");
        let error = linked_source(vars(&[
            ("DEP_FLOVYN_PLUGIN_HELLO_CRATE", "hello; fn x() {}"),
            ("DEP_FLOVYN_PLUGIN_HELLO_PACKAGE", "hello"),
        ]))
        .unwrap_err();
        assert!(error.contains("not a crate name"), "{error}");
    }
}
