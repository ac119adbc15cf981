//! `flovyn-server new-plugin <NAME>`: writes a new plugin crate that compiles, has a
//! migration, a public and two permissioned routes, a config section and passing tests
//! (401 and 403 included) run in the real server assembly with `flovyn-testing`.
//!
//! The crate depends on the SDK by path — the checkout this server was built from — or, with
//! `--git URL`, on a git repository holding the SDK's crates. It is written into a temporary
//! directory beside its destination and renamed into place, so a failure leaves nothing
//! half-written. The Rust files are laid out by `rustfmt` when it is installed.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use flovyn_naming::plugin::{table_prefix, underscored, validate_plugin_name};

/// Where the generated crate finds the SDK's crates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The directory holding `flovyn-sdk/`, `flovyn-build/` and `flovyn-testing/`.
    Path(PathBuf),
    /// A git repository holding them.
    Git(String),
}

impl SdkSource {
    /// The checkout this binary was built from, when it still exists.
    pub fn built_from() -> Option<SdkSource> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
        root.join("flovyn-sdk/Cargo.toml")
            .is_file()
            .then(|| SdkSource::Path(root.to_path_buf()))
    }

    /// The dependency line of crate `name` for a crate in `dir`.
    fn dependency(&self, name: &str, dir: &Path) -> String {
        match self {
            SdkSource::Path(root) => {
                let target = root.join(name);
                let path = relative(dir, &target).unwrap_or(target);
                format!("{name} = {{ path = {:?} }}", path.display().to_string())
            }
            SdkSource::Git(url) => format!("{name} = {{ git = {url:?} }}"),
        }
    }
}

/// Why no crate was written.
#[derive(Debug)]
pub enum ScaffoldError {
    /// The name breaks the naming rules (the same message as the macro's).
    Name(String),
    /// The destination exists.
    Exists(PathBuf),
    /// No SDK source: not built from a checkout, and no `--git`.
    NoSdk,
    /// Writing failed.
    Io(PathBuf, std::io::Error),
}

impl fmt::Display for ScaffoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(message) => f.write_str(message),
            Self::Exists(path) => write!(
                f,
                "`{}` already exists; choose another name or --dir",
                path.display()
            ),
            Self::NoSdk => f.write_str(
                "this server was not built from a checkout of the SDK it can point the new crate at: pass --git <URL of the SDK repository>",
            ),
            Self::Io(path, e) => write!(f, "cannot write `{}`: {e}", path.display()),
        }
    }
}

impl std::error::Error for ScaffoldError {}

/// Writes the crate of plugin `name` into `dir/<name>` and returns that path.
pub fn new_plugin(name: &str, dir: &Path, sdk: &SdkSource) -> Result<PathBuf, ScaffoldError> {
    validate_plugin_name(name).map_err(|e| ScaffoldError::Name(e.to_string()))?;
    let dir = absolute(dir).map_err(|e| ScaffoldError::Io(dir.to_path_buf(), e))?;
    let destination = dir.join(name);
    if destination.exists() {
        return Err(ScaffoldError::Exists(destination));
    }
    std::fs::create_dir_all(&dir).map_err(|e| ScaffoldError::Io(dir.clone(), e))?;
    // Written beside the destination, renamed into place when complete.
    let staging = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let written = write_files(&staging, &Vars::new(name, &destination, sdk)).and_then(|()| {
        std::fs::rename(&staging, &destination)
            .map_err(|e| ScaffoldError::Io(destination.clone(), e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written.map(|()| destination)
}

fn write_files(root: &Path, vars: &Vars) -> Result<(), ScaffoldError> {
    for (file, template) in FILES {
        let path = root.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ScaffoldError::Io(parent.into(), e))?;
        }
        std::fs::write(&path, vars.fill(template)).map_err(|e| ScaffoldError::Io(path, e))?;
    }
    // Line lengths depend on the name: let rustfmt lay the code out, where it is installed
    // (it is beside cargo in every rustup toolchain); the templates are valid Rust either way.
    let _ = std::process::Command::new("rustfmt")
        .args([
            "--edition",
            "2024",
            "build.rs",
            "src/lib.rs",
            "tests/api.rs",
        ])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(())
}

/// The files of a new plugin crate and their templates.
const FILES: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.tmpl")),
    ("build.rs", include_str!("template/build.rs.tmpl")),
    ("src/lib.rs", include_str!("template/lib.rs.tmpl")),
    (
        "migrations/001_create_items.sql",
        include_str!("template/migration.sql.tmpl"),
    ),
    ("tests/api.rs", include_str!("template/api.rs.tmpl")),
    ("README.md", include_str!("template/README.md.tmpl")),
    (".gitignore", include_str!("template/gitignore.tmpl")),
];

/// The placeholders of the templates.
struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    fn new(name: &str, destination: &Path, sdk: &SdkSource) -> Self {
        Self {
            pairs: vec![
                ("__SDK_DEP__", sdk.dependency("flovyn-sdk", destination)),
                ("__BUILD_DEP__", sdk.dependency("flovyn-build", destination)),
                (
                    "__TESTING_DEP__",
                    sdk.dependency("flovyn-testing", destination),
                ),
                ("__PREFIX__", table_prefix(name)),
                ("__PERM__", underscored(name)),
                ("__CRATE__", underscored(name)),
                ("__TYPE__", camel_case(name)),
                ("__NAME__", name.to_owned()),
            ],
        }
    }

    fn fill(&self, template: &str) -> String {
        self.pairs
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(key, value)
            })
    }
}

/// `audit-log` → `AuditLog`.
fn camel_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// `to` relative to `from` (both absolute), through their common ancestor.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<Component<'_>> = normal(from)?;
    let to: Vec<Component<'_>> = normal(to)?;
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    // Only the root in common: the absolute path says more than `../../..`.
    if common <= 1 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part.as_os_str());
    }
    Some(out)
}

/// The components of an absolute path with `.` removed and `..` applied.
fn normal(path: &Path) -> Option<Vec<Component<'_>>> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_rust_names() {
        assert_eq!(camel_case("bookmarks"), "Bookmarks");
        assert_eq!(camel_case("audit-log2"), "AuditLog2");
    }

    #[test]
    fn dependency_paths_are_relative_when_they_can_be() {
        let sdk = SdkSource::Path(PathBuf::from("/work/sdk"));
        assert_eq!(
            sdk.dependency("flovyn-sdk", Path::new("/work/plugins/bookmarks")),
            r#"flovyn-sdk = { path = "../../sdk/flovyn-sdk" }"#
        );
        let git = SdkSource::Git("https://example.org/sdk".into());
        assert_eq!(
            git.dependency("flovyn-build", Path::new("/x")),
            r#"flovyn-build = { git = "https://example.org/sdk" }"#
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        let vars = Vars::new(
            "audit-trail",
            Path::new("/p/audit-trail"),
            &SdkSource::Path(PathBuf::from("/s")),
        );
        for (file, template) in FILES {
            let text = vars.fill(template);
            let left = text
                .match_indices("__")
                .any(|(at, _)| text[at + 2..].starts_with(|c: char| c.is_ascii_uppercase()));
            assert!(!left, "{file}: {text}");
            assert!(!text.contains("__NAME__") && !text.contains("__TYPE__"));
        }
        let lib = vars.fill(FILES[2].1);
        assert!(lib.contains("pub struct AuditTrail {"), "{lib}");
        assert!(lib.contains("FROM p_audit_trail__items"), "{lib}");
        assert!(lib.contains(r#"permission = "audit_trail:read""#), "{lib}");
    }
}
