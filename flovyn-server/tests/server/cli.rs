//! The binary: `--help`, `plugins`, `openapi` and `config-schema` without a database,
//! `serve` in an empty directory on SQLite, restarts, `migrate`, replicas on PostgreSQL, and
//! shutdown.

use std::time::Duration;

use crate::support::pg;
use crate::support::process::{self, Server, get};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_every_command_and_each_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = process::run(dir.path(), &["--help"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for command in ["serve", "migrate", "plugins", "openapi", "config-schema"] {
        assert!(help.contains(command), "`{command}` in:\n{help}");
        let out = process::run(dir.path(), &[command, "--help"], &[]);
        assert!(out.status.success(), "{command} --help: {}", stderr(&out));
        assert!(
            stdout(&out).contains("Usage: flovyn-server"),
            "{}",
            stdout(&out)
        );
    }
    assert!(
        help.contains("--listen") && help.contains("--config"),
        "{help}"
    );
}

#[test]
fn plugins_openapi_and_config_schema_need_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")];
    let out = process::run(dir.path(), &["plugins"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(
        listing.starts_with(&format!("audit-log {}\n", env!("CARGO_PKG_VERSION"))),
        "sorted by name: {listing}"
    );
    assert!(
        listing.contains(&format!("\nhello {}\n", env!("CARGO_PKG_VERSION"))),
        "{listing}"
    );
    assert!(
        listing.contains("  handles   worker-token.token-created with on_token_created\n"),
        "{listing}"
    );
    assert!(
        listing.contains("  publishes worker-token.token-revoked\n"),
        "{listing}"
    );
    assert!(
        listing.contains("  task      1h      prune_expired\n"),
        "{listing}"
    );
    assert!(
        listing.contains("route     GET     /api/v1/p/hello/greeting"),
        "{listing}"
    );
    assert!(
        listing.contains("migration 1       create_greetings"),
        "{listing}"
    );

    let out = process::run(dir.path(), &["openapi"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("openapi prints JSON");
    assert!(doc["paths"]["/api/v1/p/hello/greeting"]["get"].is_object());

    let out = process::run(dir.path(), &["config-schema"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("config-schema prints JSON");
    let sections = &schema["properties"]["plugins"]["properties"];
    assert!(
        sections["hello"].is_object()
            && sections["worker-token"].is_object()
            && sections["audit-log"]["properties"]["retention_days"]["default"] == 90,
        "a section per linked plugin: {sections}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no database file was created"
    );
}

/// `plugins` and `openapi` read the configuration: a plugin it runs as a process is started to
/// describe itself (the same listing and spec as linked), one that cannot start is shown as
/// failed with the reason, and the command fails unless that plugin is optional.
#[test]
fn plugins_and_openapi_describe_plugin_processes_and_show_refused_ones() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| process::run(dir.path(), args, &[]);
    let linked_listing = stdout(&run(&["plugins"]));
    let linked_spec = run(&["openapi"]).stdout;

    let hello = process::plugin_executable("hello-plugin");
    let config = dir.path().join("flovyn.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.hello]\nmode = \"process\"\ncommand = \"{}\"\n",
            hello.display()
        ),
    )
    .unwrap();
    let out = run(&["plugins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert_eq!(
        listing,
        linked_listing.replace(
            &format!("hello {}\n", env!("CARGO_PKG_VERSION")),
            &format!(
                "hello {}\n  process   {}\n",
                env!("CARGO_PKG_VERSION"),
                hello.display()
            )
        ),
        "the same listing, with the process named"
    );
    let out = run(&["openapi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&linked_spec),
        "the same spec out of process"
    );

    // A relative command is the server's working directory's, although the process starts
    // in a directory of its own.
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::os::unix::fs::symlink(&hello, dir.path().join("plugins/hello-plugin")).unwrap();
    std::fs::write(
        &config,
        "[plugins.hello]\nmode = \"process\"\ncommand = \"./plugins/hello-plugin\"\n",
    )
    .unwrap();
    let out = run(&["plugins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  process   ./plugins/hello-plugin\n"),
        "{}",
        stdout(&out)
    );

    std::fs::write(
        &config,
        "[plugins.hello]\nmode = \"process\"\ncommand = \"/nonexistent/hello-plugin\"\n",
    )
    .unwrap();
    let out = run(&["plugins"]);
    assert!(!out.status.success());
    let listing = stdout(&out);
    assert!(
        listing
            .contains("hello\n  process   /nonexistent/hello-plugin\n  failed    cannot start it:"),
        "{listing}"
    );
    assert!(
        listing.contains("\nworker-token "),
        "the others are listed: {listing}"
    );
    assert!(stderr(&out).contains("hello"), "{}", stderr(&out));
    let out = run(&["openapi"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("plugin `hello` (process) was refused"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        &config,
        "[plugins.hello]\nmode = \"process\"\ncommand = \"/nonexistent/hello-plugin\"\noptional = true\n",
    )
    .unwrap();
    let out = run(&["plugins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("  failed    "), "{}", stdout(&out));
    let out = run(&["openapi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["paths"]["/api/v1/p/hello/greeting"].is_null(),
        "an optional plugin left out is not in the spec"
    );
}

#[test]
fn serve_in_an_empty_directory_uses_sqlite_and_restarts_apply_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert!(
        dir.path().join("flovyn.db").exists(),
        "flovyn.db created in the working directory"
    );
    let r = get(server.addr, "/_/health", &[]).unwrap();
    assert_eq!(r.json()["status"], "ok");
    let r = get(server.addr, "/api/v1/p/hello/greeting?name=Ada", &[]).unwrap();
    assert_eq!(r.json(), serde_json::json!({"message": "Hello, Ada!"}));
    let out = server.terminate();
    assert!(
        out.status.success(),
        "exit 0 after SIGTERM: {}",
        stderr(&out)
    );

    // Restart: nothing to apply, same answers.
    let out = process::run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "nothing to apply\n");
    let server = Server::start(dir.path(), &[]);
    assert_eq!(get(server.addr, "/_/health", &[]).unwrap().status, 200);
}

/// The log, read from a pipe as a log collector would: plain text, no colour codes, each
/// migration logged once.
#[test]
fn the_log_is_plain_text_with_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOVYN_LOG", "info")]);
    let out = server.terminate();
    let log = stderr(&out);
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log:\n{log}"
    );
    let hello = log
        .lines()
        .filter(|l| l.contains("create_greetings"))
        .count();
    assert_eq!(
        hello, 1,
        "hello's first migration logged {hello} times:\n{log}"
    );
}

#[test]
fn migrate_applies_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = process::run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applied hello 1 create_greetings"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.hello]\nenabled = \"maybe\"\n",
    )
    .unwrap();
    let out = process::run(dir.path(), &["serve"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("key `plugins.hello.enabled`"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.nope]\nenabled = true\n",
    )
    .unwrap();
    let out = process::run(dir.path(), &["serve"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown key `plugins.nope`"),
        "{}",
        stderr(&out)
    );

    // A plugin's own typed key names the field and where its value came from, the file or
    // the variable that overrides it, as the server's own keys do.
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.audit-log]\nretention_days = \"a week\"\n",
    )
    .unwrap();
    let out = process::run(dir.path(), &["serve"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "key `plugins.audit-log.retention_days`: \"a week\" is not of type \"integer\" (from flovyn.toml)"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(dir.path().join("flovyn.toml")).unwrap();
    let var = [("FLOVYN_PLUGINS__AUDIT_LOG__RETENTION_DAYS", "-1")];
    let out = process::run(dir.path(), &["serve"], &var);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "key `plugins.audit-log.retention_days`: -1 is less than the minimum of 1 (from `FLOVYN_PLUGINS__AUDIT_LOG__RETENTION_DAYS`)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_disabled_plugin_by_environment_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOVYN_PLUGINS__HELLO__ENABLED", "false")]);
    let r = get(server.addr, "/api/v1/p/hello/greeting", &[]).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOVYN_LOG", "info")]);
    let addr = server.addr;
    let out = server.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        get(addr, "/_/health", &[]).is_err(),
        "no longer accepting connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_start_together_on_postgres_and_apply_each_migration_once() {
    let Some(pg) = pg::shared() else { return };
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Server> = (0..4)
        .map(|_| Server::spawn(dir.path(), &[("DATABASE_URL", url.as_str())]))
        .collect();
    for s in &mut servers {
        s.wait_healthy(Duration::from_secs(60));
    }
    for s in &servers {
        let r = get(s.addr, "/api/v1/p/hello/greeting", &[]).unwrap();
        assert_eq!(r.status, 200);
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT plugin, version, COUNT(*) FROM _plugin_migrations GROUP BY plugin, version ORDER BY plugin, version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        rows.iter().any(|(p, v, _)| p == "hello" && *v == 1),
        "{rows:?}"
    );
    for (plugin, version, count) in &rows {
        assert_eq!(*count, 1, "{plugin} {version} applied {count} times");
    }
}

#[test]
fn a_taken_port_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = process::run(dir.path(), &["serve", "--listen", &addr], &[]);
    assert!(!out.status.success());
    let stderr = stderr(&out);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    drop(taken);
}
