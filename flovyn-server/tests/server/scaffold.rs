//! `flovyn-server new-plugin`: the crate it writes builds and passes its own tests (a 401 and
//! a 403 among them) in the real server assembly, is formatted, and bad input writes nothing.

use std::path::Path;
use std::process::Command;

use crate::support::process;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn new_plugin(dir: &Path, name: &str) -> std::process::Output {
    process::run(dir, &["new-plugin", name, "--dir", "plugins"], &[])
}

#[test]
fn a_new_plugin_passes_its_own_tests() {
    let dir = tempfile::tempdir().unwrap();
    let out = new_plugin(dir.path(), "bookmarks");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let krate = dir.path().join("plugins/bookmarks");
    assert!(stdout.contains(&format!(
        "created plugin `bookmarks` in {}",
        krate.display()
    )));
    for file in [
        "Cargo.toml",
        "build.rs",
        "src/lib.rs",
        "migrations/001_create_items.sql",
        "tests/api.rs",
        "README.md",
    ] {
        assert!(krate.join(file).is_file(), "{file} missing");
    }
    // The SDK by path (relative when the two directories share more than the root): the
    // path written resolves to this checkout's crate.
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let written = manifest
        .lines()
        .find_map(|l| l.strip_prefix("flovyn-sdk = { path = \""))
        .and_then(|rest| rest.strip_suffix("\" }"))
        .unwrap_or_else(|| panic!("no path dependency on flovyn-sdk: {manifest}"));
    assert_eq!(
        krate.join(written).canonicalize().unwrap(),
        workspace().join("flovyn-sdk").canonicalize().unwrap(),
        "{manifest}"
    );

    // Built against exactly the workspace's versions, offline; a target dir of its own
    // that later runs reuse.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-plugin-target");
    let out = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("FLOVYN_TEST_DATABASE_URL")
        .output()
        .expect("run cargo");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(report.contains("5 passed; 0 failed"), "{report}");

    // The files are what rustfmt writes, for a short name and one of the longest (40).
    for name in ["x", "abcdefghij-abcdefghij-abcdefghij-abcdefg"] {
        assert!(new_plugin(dir.path(), name).status.success());
        let krate = dir.path().join("plugins").join(name);
        let out = Command::new("rustfmt")
            .args(["--check", "--edition", "2024"])
            .args(["build.rs", "src/lib.rs", "tests/api.rs"])
            .current_dir(&krate)
            .output()
            .expect("run rustfmt");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn bad_names_and_existing_directories_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = new_plugin(dir.path(), "Bad_Name");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: plugin name `Bad_Name` is not kebab-case: use lowercase ASCII letters, digits and single `-` between words, starting with a letter; did you mean `bad-name`?"
    );
    assert!(!dir.path().join("plugins").exists());

    std::fs::create_dir_all(dir.path().join("plugins/notes")).unwrap();
    std::fs::write(dir.path().join("plugins/notes/keep.txt"), "mine").unwrap();
    let out = new_plugin(dir.path(), "notes");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes"], "no partial directory left behind");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("plugins/notes/keep.txt")).unwrap(),
        "mine"
    );
}
