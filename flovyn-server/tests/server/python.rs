//! A plugin written in Python (`example-plugins/notes`, on the Python SDK of `sdk-python/`),
//! started by the real server from `flovyn.toml` like any plugin process: its routes behind
//! the host's access checks, its config, its migration, its storage through the host, the
//! event it publishes in its transaction, the event it handles, its periodic task, its place
//! in the listing and the merged spec. On SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use std::path::Path;

use serde_json::{Value, json};

use crate::http::ADMIN;
use crate::support::db::{TestDb, on_both_databases};
use crate::support::process::{self, Response, Server};
use crate::support::python;

const NOTES: &str = "/api/v1/p/notes/notes";

on_both_databases!(a_python_plugin_serves_its_routes_with_storage_through_the_host);

async fn a_python_plugin_serves_its_routes_with_storage_through_the_host(db: TestDb) {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    let url = db.url.clone();
    let kept = tokio::task::spawn_blocking(move || serve_notes(&url, &notes, Handle::Frames))
        .await
        .unwrap();

    let pool = db.connect().await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, title, created_by FROM p_notes__notes")
            .fetch_all(pool.pool())
            .await
            .unwrap();
    assert_eq!(
        rows.iter()
            .filter(|(_, _, by)| by == "admin")
            .cloned()
            .collect::<Vec<_>>(),
        [(kept, "second".to_owned(), "admin".to_owned())]
    );
    // `core.tenant-created` handled: a welcome note in the new tenant, once.
    let welcome: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT title, tenant FROM p_notes__notes WHERE created_by = 'notes'")
            .fetch_all(pool.pool())
            .await
            .unwrap();
    assert_eq!(
        welcome,
        [("Welcome, Acme".to_owned(), Some("acme".to_owned()))]
    );
    // Each note written published `notes.note-created` in its transaction; the refused
    // ones did not.
    let published: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM _event_outbox WHERE name = 'notes.note-created' AND publisher = 'notes'",
    )
    .fetch_one(pool.pool())
    .await
    .unwrap();
    assert_eq!(published, 2);
    let ledger: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, name FROM _plugin_migrations WHERE plugin = 'notes' ORDER BY version",
    )
    .fetch_all(pool.pool())
    .await
    .unwrap();
    assert_eq!(ledger, [(1, "create_notes".to_owned())]);
}

/// How the host sends the plugin its requests (`handle` in its section).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Handle {
    /// As frames (the default: the Python SDK offers them).
    Frames,
    /// Through gRPC `Handle` (`handle = "grpc"`).
    Grpc,
}

/// The same scenario with the requests through gRPC `Handle`.
#[test]
fn a_python_plugin_serves_its_routes_through_grpc_handle_too() {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("notes.db").display()
    );
    serve_notes(&url, &notes, Handle::Grpc);
}

/// Runs the scenario against a server on `url`; the id of the note left behind.
fn serve_notes(url: &str, notes: &Path, handle: Handle) -> String {
    let dir = tempfile::tempdir().unwrap();
    let section = match handle {
        Handle::Frames => "max_body_length = 64\n",
        Handle::Grpc => "max_body_length = 64\nhandle = \"grpc\"\n",
    };
    write_config(dir.path(), notes, section);
    let server = Server::start(
        dir.path(),
        &[("DATABASE_URL", url), ("FLOVYN_ADMIN_TOKEN", ADMIN)],
    );
    let call = |method: &str, path: &str, token: Option<&str>, body: &str| -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        process::request(server.addr, method, path, &headers, body).unwrap()
    };

    // Public, and the typed config from flovyn.toml reached the plugin.
    let about = call("GET", "/api/v1/p/notes/about", None, "");
    assert_eq!(about.status, 200, "{}", about.body);
    assert_eq!(
        about.json(),
        json!({"plugin": "notes", "max_body_length": 64})
    );

    // The host's access checks come first.
    let anonymous = call("POST", NOTES, None, r#"{"title":"t"}"#);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");

    let created = call(
        "POST",
        NOTES,
        Some(ADMIN),
        r#"{"title":"first","body":"hi"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let first = created.json();
    assert_eq!(first["title"], "first");
    assert_eq!(first["created_by"], "admin");
    let first_id = first["id"].as_str().unwrap().to_owned();

    // Refusals in the server's error form: pydantic's validation, the plugin's own check.
    let empty = call("POST", NOTES, Some(ADMIN), r#"{"title":""}"#);
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert_eq!(empty.json()["error"]["code"], "unprocessable_entity");
    let long = format!(r#"{{"title":"long","body":"{}"}}"#, "x".repeat(65));
    let too_long = call("POST", NOTES, Some(ADMIN), &long);
    assert_eq!(too_long.status, 422, "{}", too_long.body);
    assert_eq!(
        too_long.json()["error"]["message"],
        "the body is longer than 64 characters"
    );

    // A worker token authenticates, but holds no permission.
    let token = call(
        "POST",
        "/api/v1/p/worker-token/tokens",
        Some(ADMIN),
        r#"{"display_name":"reader"}"#,
    );
    assert_eq!(token.status, 201, "{}", token.body);
    let worker = token.json()["token"].as_str().unwrap().to_owned();
    let forbidden = call("GET", NOTES, Some(&worker), "");
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    assert_eq!(
        forbidden.json()["error"]["message"],
        "this operation needs the `notes:read` permission"
    );

    let listed = call("GET", NOTES, Some(ADMIN), "");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json(), json!([first]));
    let one = call("GET", &format!("{NOTES}/{first_id}"), Some(ADMIN), "");
    assert_eq!(one.json(), first);
    let deleted = call("DELETE", &format!("{NOTES}/{first_id}"), Some(ADMIN), "");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = call("GET", &format!("{NOTES}/{first_id}"), Some(ADMIN), "");
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert_eq!(
        gone.json(),
        json!({"error": {"code": "not_found", "message": format!("no note with id `{first_id}`")}})
    );

    let second = call("POST", NOTES, Some(ADMIN), r#"{"title":"second"}"#);
    assert_eq!(second.status, 201, "{}", second.body);

    // A new tenant: the plugin's subscriber writes it a welcome note (checked in the
    // database once the server is gone).
    let tenant = call(
        "POST",
        "/api/v1/tenants",
        Some(ADMIN),
        r#"{"id":"acme","name":"Acme"}"#,
    );
    assert_eq!(tenant.status, 201, "{}", tenant.body);
    let delivered = r#"flovyn_events_delivered_total{plugin="notes"} 1"#;
    wait_for("the tenant event delivered to notes", || {
        call("GET", "/metrics", Some(ADMIN), "")
            .body
            .contains(delivered)
    });

    // In the admin listing, with its migration applied by the host and its task run by the
    // host's scheduler (a new task is due at once).
    let notes_entry = || {
        let plugins = call("GET", "/_/plugins", Some(ADMIN), "").json();
        plugins
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "notes").cloned())
            .unwrap_or_else(|| panic!("notes not in /_/plugins: {plugins}"))
    };
    wait_for("the task's first run", || {
        notes_entry()["tasks"][0]["last_run"]["result"] == "ok"
    });
    let listed = notes_entry();
    let expected = match handle {
        Handle::Frames => "frames",
        Handle::Grpc => "grpc",
    };
    assert_eq!(listed["process"]["handle"], expected, "{listed}");
    assert_eq!(listed["migrations"][0]["name"], "create_notes");
    assert!(!listed["migrations"][0]["applied_at"].is_null(), "{listed}");
    assert_eq!(listed["tasks"][0]["name"], "prune_expired", "{listed}");

    let spec = call("GET", "/api-docs/openapi.json", None, "");
    check_spec(&spec.json());
    validate_spec(&spec.body);

    second.json()["id"].as_str().unwrap().to_owned()
}

/// The Python plugin's operations in the merged spec, as a Rust plugin's would be.
fn check_spec(spec: &Value) {
    let create = &spec["paths"][NOTES]["post"];
    assert_eq!(create["operationId"], "notes.create_note", "{create}");
    assert_eq!(create["tags"], json!(["notes"]));
    assert_eq!(create["summary"], "Write a note in the caller's tenant.");
    assert_eq!(create["x-flovyn-permission"], "notes:write");
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewNote"
    );
    for status in ["401", "403", "422"] {
        assert_eq!(
            create["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{status}: {create}"
        );
    }
    assert_eq!(
        spec["paths"]["/api/v1/p/notes/about"]["get"]["security"],
        json!([]),
        "the public route needs no credentials"
    );
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Note") && schemas.contains_key("NewNote"));
    // The SDK ships the server's exact error schemas: one entry, not a renamed copy.
    assert!(
        !schemas.keys().any(|k| k.ends_with(".ErrorBody")),
        "{:?}",
        schemas.keys().collect::<Vec<_>>()
    );
}

/// The served document, with the Python plugin in it, is valid OpenAPI 3.1 by the reference
/// validator (in the Python environment).
fn validate_spec(document: &str) {
    let python = python::interpreter().expect("the environment exists: notes-plugin did");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document).unwrap();
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not valid OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python process killed: its routes answer 503 while the host restarts it, then serve
/// again from a new process; the rest of the server never stops.
#[test]
fn a_killed_python_plugin_is_answered_for_and_restarted() {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &notes, "");
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let auth = format!("Bearer {ADMIN}");
    let info = || -> Value {
        let all = process::get(
            server.addr,
            "/_/plugins",
            &[("Authorization", auth.as_str())],
        )
        .unwrap()
        .json();
        all.as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "notes").cloned())
            .unwrap_or_else(|| panic!("no notes in {all}"))
    };
    let about = || process::get(server.addr, "/api/v1/p/notes/about", &[]).unwrap();
    assert_eq!(about().status, 200);
    let first = info()["process"]["pid"].as_u64().unwrap();

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut seen = Vec::new();
    let mut down = None;
    wait_for("503 from the killed plugin's route", || {
        let reply = about();
        seen.push(reply.status);
        let unavailable = reply.status == 503;
        down = unavailable.then_some(reply);
        unavailable
    });
    assert!(seen.iter().all(|s| [200, 503].contains(s)), "{seen:?}");
    let down = down.expect("a 503 was seen");
    assert_eq!(
        down.json()["error"]["code"],
        "service_unavailable",
        "{}",
        down.body
    );
    // The server itself stays up.
    assert_eq!(
        process::get(server.addr, "/_/health", &[]).unwrap().status,
        200
    );
    wait_for("the restarted plugin serving again", || {
        about().status == 200
    });
    let after = info();
    assert_eq!(after["state"], "running", "{after}");
    assert_eq!(after["process"]["restarts"], 1, "{after}");
    // The restarted process offers its frames socket again.
    assert_eq!(after["process"]["handle"], "frames", "{after}");
    assert_ne!(after["process"]["pid"].as_u64().unwrap(), first);
}

/// A Python plugin that breaks a naming rule is refused by the host with the rule's own
/// message — the one a Rust author gets from the compiler.
#[tokio::test]
async fn a_python_plugin_breaking_a_naming_rule_is_refused_with_the_rule() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let script = fixture("misnamed_python_plugin.py");
    let mut spec = flovyn_server::host::process::ProcessSpec::new("misnamed", python);
    spec.args = vec![script.display().to_string()];
    let err = match flovyn_server::host::process::ProcessBackend::start(&spec).await {
        Ok(_) => panic!("the host started a plugin that breaks a naming rule"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("plugin `misnamed`")
            && err.contains("its descriptor breaks the naming rules")
            && err.contains("table `notes` must be named `p_misnamed__notes`"),
        "{err}"
    );
}

/// An exception in a Python handler: the client gets a 500 in the server's error form with the
/// request id the server answers with, and no traceback; the server's log gets the traceback
/// under the plugin's name.
#[test]
fn a_python_exception_is_a_500_for_the_client_and_a_traceback_in_the_log() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flovyn.toml"),
        format!(
            "[plugins.failing]\nmode = \"process\"\ncommand = \"{}\"\nargs = [\"{}\"]\n",
            python.display(),
            fixture("failing_python_plugin.py").display()
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &[]);
    let boom = "/api/v1/p/failing/boom";
    let given = process::get(server.addr, boom, &[("x-request-id", "req-42")]).unwrap();
    assert_eq!(given.status, 500, "{}", given.body);
    assert_eq!(
        given.json(),
        json!({"error": {"code": "internal", "message": "internal error (request id req-42)"}})
    );
    // Without one, the id the server generated and answers with.
    let generated = process::get(server.addr, boom, &[]).unwrap();
    let id = generated.header("x-request-id").unwrap().to_owned();
    assert_eq!(
        generated.json()["error"]["message"],
        format!("internal error (request id {id})")
    );
    assert!(!generated.body.contains("Traceback"), "{}", generated.body);

    let out = server.terminate();
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("plugin=failing"))
        .collect();
    for expected in [
        "plugin `failing`: unhandled exception in GET /api/v1/p/failing/boom (request id req-42)",
        "Traceback (most recent call last):",
        "RuntimeError: the handler failed on purpose",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "no log line of the plugin with `{expected}`:\n{log}"
        );
    }
}

/// What a user of the spec gets works: a client generated from the served document
/// (openapi-python-client) calls the server's own API (`/api/v1/me`, `/_/health`) and every
/// route of the Python plugin, errors included.
#[test]
fn a_client_generated_from_the_spec_calls_the_core_api_and_the_python_plugin() {
    let (Some(notes), Some(generator), Some(python)) = (
        python::notes_plugin(),
        python::program("openapi-python-client"),
        python::interpreter(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &notes, "");
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let spec = process::get(server.addr, "/api-docs/openapi.json", &[]).unwrap();
    assert_eq!(spec.status, 200);
    let generated = dir.path().join("client");
    std::fs::create_dir(&generated).unwrap();
    std::fs::write(generated.join("openapi.json"), &spec.body).unwrap();
    // The generator formats its output with ruff, from the same environment.
    let bin = generator.parent().unwrap().to_owned();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = std::process::Command::new(&generator)
        .args(["generate", "--path", "openapi.json", "--meta", "none"])
        .current_dir(&generated)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && generated.join("flovyn_client").is_dir(),
        "openapi-python-client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(python)
        .arg(fixture("generated_client_check.py"))
        .arg(format!("http://{}", server.addr))
        .arg(ADMIN)
        .env("PYTHONPATH", &generated)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the generated client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("called the core API and every notes route")
    );
}

/// The development loop: with `flovyn-plugin run FILE --reload` as the plugin's command, an
/// edit of the plugin's file is served on the next requests — the process exits on the
/// change and the server starts it again, without restarting itself.
#[test]
fn an_edited_python_plugin_is_served_on_its_new_code() {
    let Some(runner) = python::program("flovyn-plugin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("dev_plugin.py");
    let version = |n: u32| {
        format!(
            "from flovyn_plugin import Plugin, public\n\
             plugin = Plugin(name=\"dev\", version=\"0.1.0\")\n\n\
             @plugin.app.get(\"/version\", dependencies=[public])\n\
             async def version() -> dict[str, int]:\n    return {{\"version\": {n}}}\n"
        )
    };
    std::fs::write(&source, version(1)).unwrap();
    std::fs::write(
        dir.path().join("flovyn.toml"),
        format!(
            "[plugins.dev]\nmode = \"process\"\ncommand = \"{}\"\nargs = [\"run\", \"{}\", \"--reload\"]\nmax_restarts = 100\n",
            runner.display(),
            source.display()
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &[]);
    let version_now = || {
        let reply = process::get(server.addr, "/api/v1/p/dev/version", &[]).unwrap();
        (reply.status == 200).then(|| reply.json()["version"].clone())
    };
    assert_eq!(version_now(), Some(json!(1)));

    std::fs::write(&source, version(2)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while version_now() != Some(json!(2)) {
        if Instant::now() > deadline {
            let log = String::from_utf8_lossy(&server.terminate().stderr).into_owned();
            panic!("the edited plugin is not served after 20 s; the server's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        process::get(server.addr, "/_/health", &[]).unwrap().status,
        200
    );
    let log = String::from_utf8_lossy(&server.terminate().stderr).into_owned();
    assert!(
        log.contains("dev_plugin.py changed: exiting, the server starts it again on the new code"),
        "{log}"
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/server/fixtures")
        .join(name)
}

/// Sandboxed (decision 0020), with only its virtual environment and the interpreter that made
/// it added to what it may read, the Python plugin serves and stores as it does unsandboxed:
/// the interpreter, grpcio's Unix sockets and the host's storage all work under Landlock and
/// seccomp.
#[test]
fn a_sandboxed_python_plugin_serves_and_stores_through_the_host() {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    // `<venv>/bin/notes-plugin`: the environment is two levels up.
    let venv = notes.parent().and_then(Path::parent).unwrap();
    let venv = venv.canonicalize().unwrap();
    // The rules extension is installed in development mode: its package stays in the source.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdk-python/rules/python")
        .canonicalize()
        .unwrap();
    // The interpreter the environment was made from (`home` in `pyvenv.cfg`: its `bin`).
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    let home = cfg
        .lines()
        .find_map(|l| l.strip_prefix("home = "))
        .map(|bin| Path::new(bin.trim()).parent().unwrap().to_path_buf())
        .unwrap();
    let readable: Vec<String> = [venv.as_path(), rules.as_path(), home.as_path()]
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &notes,
        &format!("sandbox = true\nsandbox_read = [{}]\n", readable.join(", ")),
    );
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let created = process::request(
        server.addr,
        "POST",
        NOTES,
        &headers,
        r#"{"title":"boxed","body":"hi"}"#,
    )
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let read =
        process::request(server.addr, "GET", &format!("{NOTES}/{id}"), &headers, "").unwrap();
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["title"], "boxed");
    let output = server.terminate();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `flovyn-server plugins` starts the Python plugin to describe it, like a Rust one.
#[test]
fn the_listing_shows_the_python_plugin() {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &notes, "");
    let out = process::run(dir.path(), &["plugins"], &[]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!(
        "notes 0.1.0\n  process   {}\n  Short notes per tenant, written in Python.\n  \
         route     GET     /api/v1/p/notes/about\n  \
         route     GET     /api/v1/p/notes/notes\n  \
         route     POST    /api/v1/p/notes/notes\n  \
         route     GET     /api/v1/p/notes/notes/{{note_id}}\n  \
         route     DELETE  /api/v1/p/notes/notes/{{note_id}}\n  \
         migration 1       create_notes\n  \
         publishes notes.note-created\n  \
         handles   core.tenant-created with on_tenant_created\n  \
         task      1h      prune_expired\n",
        notes.display()
    );
    assert!(listing.contains(&expected), "{listing}");
}

/// A bad value in the plugin's section stops the server, naming the plugin and the key.
#[test]
fn a_bad_config_value_is_refused_naming_the_plugin_and_the_key() {
    let Some(notes) = python::notes_plugin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &notes, "max_body_length = 0\n");
    let out = process::run(dir.path(), &["serve"], &[("FLOVYN_LISTEN", "127.0.0.1:0")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("notes") && stderr.contains("max_body_length"),
        "{stderr}"
    );
}

/// Waits up to 20 s for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_config(dir: &Path, notes: &Path, section: &str) {
    std::fs::write(
        dir.join("flovyn.toml"),
        format!(
            "[plugins.notes]\nmode = \"process\"\ncommand = \"{}\"\n{section}",
            notes.display()
        ),
    )
    .unwrap();
}
