//! The served spec proven from outside, by the tools a user's tooling would use:
//! schemathesis (every check, authenticated and not, a fixed seed and a bounded budget)
//! against the live server, and Redocly's linter on the document. The server runs with the
//! example plugins linked and the Python `notes` plugin as a process, so the spec covers the
//! core routes, Rust plugins and a Python plugin. Both must report nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::http::ADMIN;
use crate::support::process::{self, Server};
use crate::support::{python, required_tool};

const REDOCLY_INSTALL: &str =
    "./scripts/install-test-deps (npm install @redocly/cli into target/node)";

/// The server under test, with `notes` out of process when the Python environment exists.
fn server(dir: &Path) -> Server {
    if let Some(notes) = python::notes_plugin() {
        std::fs::write(
            dir.join("flovyn.toml"),
            format!(
                "[plugins.notes]\nmode = \"process\"\ncommand = \"{}\"\n",
                notes.display()
            ),
        )
        .unwrap();
    }
    Server::start(dir, &[("FLOVYN_ADMIN_TOKEN", ADMIN)])
}

#[test]
fn schemathesis_finds_no_failure_with_credentials_or_without() {
    let Some(schemathesis) = python::program("schemathesis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let spec = format!("http://{}/api-docs/openapi.json", server.addr);
    let auth = format!("Authorization: Bearer {ADMIN}");
    for (who, headers) in [
        ("the admin", vec!["-H", auth.as_str()]),
        ("anonymous", vec![]),
    ] {
        let out = Command::new(&schemathesis)
            .args([
                "run",
                &spec,
                "--checks",
                "all",
                "--max-examples",
                "25",
                "--seed",
                "7",
            ])
            .args(["--workers", "1", "--no-color"])
            .args(&headers)
            .current_dir(dir.path())
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as {who} found failures:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            report.contains("No issues found") || report.contains("passed"),
            "{report}"
        );
    }
}

#[test]
fn redocly_reports_no_error_and_no_warning() {
    let redocly = redocly();
    if !required_tool("@redocly/cli", redocly.exists(), REDOCLY_INSTALL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let spec = process::get(server.addr, "/api-docs/openapi.json", &[]).unwrap();
    assert_eq!(spec.status, 200);
    let lint = tempfile::tempdir().unwrap();
    std::fs::write(lint.path().join("openapi.json"), &spec.body).unwrap();
    // The repository's lint configuration, with its reasons.
    std::fs::copy(
        repo().join("redocly.yaml"),
        lint.path().join("redocly.yaml"),
    )
    .unwrap();
    let out = Command::new(&redocly)
        .args(["lint", "openapi.json", "--format", "stylish"])
        .current_dir(lint.path())
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "redocly lint failed:\n{report}");
    // "You have N warnings." (or errors) follows the verdict when there are any.
    assert!(
        report.contains("Your API description is valid") && !report.contains("You have"),
        "redocly lint reported problems:\n{report}"
    );
    assert!(
        !report.contains("No configurations were provided"),
        "redocly did not read redocly.yaml:\n{report}"
    );
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn redocly() -> PathBuf {
    repo().join("target/node/node_modules/.bin/redocly")
}
