//! Supervised plugin processes, as an operator sees them: a plugin process killed under load
//! is answered for with 503 and `Retry-After`, restarted, and serves again, while the rest of
//! the server keeps serving; one that keeps crashing is `failed` (in `/_/plugins` and
//! `/metrics`); one that hangs gets 504 at its deadline without holding anything else up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use flovyn_server::host::Backend;
use flovyn_server::host::linked::Linked;
use flovyn_server::host::process::{ProcessBackend, ProcessSpec};
use flovyn_server::startup::AppState;
use serde_json::Value;

use crate::http::{ADMIN, get, get_as, send};
use crate::support::process::plugin_executable;

type App = flovyn_server::router::App;

/// A server (in this process) running `spec`'s plugin as a process, and `worker-token`
/// linked, on a SQLite file.
async fn server(spec: ProcessSpec) -> (AppState, App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = flovyn_server::config::Config::default();
    config.database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("flovyn.db").display()
    );
    config.admin_token = Some(ADMIN.to_owned());
    let process = ProcessBackend::start(&spec).await.unwrap();
    let backends: Vec<Arc<dyn Backend>> = vec![
        Arc::new(process),
        Arc::new(Linked(
            <worker_token::WorkerToken as flovyn_sdk::Plugin>::linked(),
        )),
    ];
    let state = flovyn_server::startup::start_backends(config, backends)
        .await
        .expect("the server starts with a plugin process");
    let app = flovyn_server::router::build_router(state.clone());
    (state, app, dir)
}

async fn plugin_info(app: &App, name: &str) -> Value {
    let reply = send(app, get_as("/_/plugins", ADMIN)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no `{name}` in /_/plugins"))
}

fn pid_of(info: &Value) -> u32 {
    let pid = info["process"]["pid"].as_u64();
    u32::try_from(pid.unwrap_or_else(|| panic!("no pid in {info}"))).unwrap()
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {pid}");
}

/// Whether a process with this id still exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z'))
    })
}

/// Polls `GET path` until it answers `want`; every answer before must be one of `meanwhile`.
/// Returns the matching reply and how long it took.
async fn until(
    app: &App,
    path: &str,
    want: StatusCode,
    meanwhile: &[StatusCode],
    within: Duration,
) -> (crate::http::Reply, Duration) {
    let started = Instant::now();
    loop {
        let reply = send(app, get(path)).await;
        if reply.status == want {
            return (reply, started.elapsed());
        }
        assert!(
            meanwhile.contains(&reply.status),
            "{path}: {} while waiting for {want}: {}",
            reply.status,
            reply.body
        );
        assert!(
            started.elapsed() < within,
            "{path}: no {want} within {within:?} (last: {})",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Requests to the linked `worker-token` in a loop until stopped: (sent, failed).
fn load(app: &App) -> (Arc<AtomicBool>, tokio::task::JoinHandle<(usize, usize)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (app, flag) = (app.clone(), stop.clone());
    let sent = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        let mut failed = 0;
        while !flag.load(Ordering::Relaxed) {
            let reply = send(&app, get_as("/api/v1/p/worker-token/tokens", ADMIN)).await;
            sent.fetch_add(1, Ordering::Relaxed);
            if reply.status != StatusCode::OK {
                failed += 1;
            }
            let health = send(&app, get("/_/health")).await;
            if health.status != StatusCode::OK {
                failed += 1;
            }
        }
        (sent.load(Ordering::Relaxed), failed)
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_process_killed_under_load_is_answered_for_restarted_and_serves_again() {
    let (_state, app, _dir) =
        server(ProcessSpec::new("hello", plugin_executable("hello-plugin"))).await;
    let greeting = "/api/v1/p/hello/greeting";
    let before = plugin_info(&app, "hello").await;
    assert_eq!(before["state"], "running");
    assert_eq!(before["process"]["restarts"], 0);
    // The Rust SDK's process takes requests as frames (decision 0021).
    assert_eq!(before["process"]["handle"], "frames", "{before}");
    let first = pid_of(&before);

    let (stop, others) = load(&app);
    tokio::time::sleep(Duration::from_millis(100)).await;
    kill(first);
    let killed = Instant::now();
    let (down, took) = until(
        &app,
        greeting,
        StatusCode::SERVICE_UNAVAILABLE,
        &[StatusCode::OK],
        Duration::from_secs(1),
    )
    .await;
    assert!(took < Duration::from_secs(1), "503 only after {took:?}");
    assert_eq!(down.headers["retry-after"], "1", "{:?}", down.headers);
    assert_eq!(down.json()["error"]["code"], "service_unavailable");
    assert!(
        down.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`hello`"),
        "{}",
        down.body
    );

    let (up, _) = until(
        &app,
        greeting,
        StatusCode::OK,
        &[StatusCode::SERVICE_UNAVAILABLE],
        Duration::from_secs(5),
    )
    .await;
    assert!(killed.elapsed() < Duration::from_secs(5));
    assert_eq!(up.json(), serde_json::json!({"message": "Hello, world!"}));

    stop.store(true, Ordering::Relaxed);
    let (sent, failed) = others.await.unwrap();
    assert!(sent > 0, "the load never ran");
    assert_eq!(failed, 0, "other routes failed while `hello` restarted");

    let after = plugin_info(&app, "hello").await;
    assert_eq!(after["state"], "running");
    assert_eq!(after["process"]["restarts"], 1);
    // The new process too.
    assert_eq!(after["process"]["handle"], "frames", "{after}");
    assert!(
        after["process"]["last_exit"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{after}"
    );
    let second = pid_of(&after);
    assert_ne!(second, first);
    assert!(alive(second));
    assert!(!alive(first), "the killed process was not reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_ends_in_failed_with_the_last_exit() {
    let mut spec = ProcessSpec::new("hello", plugin_executable("hello-plugin"));
    spec.restart.max_restarts = 2;
    let (_state, app, _dir) = server(spec).await;
    let greeting = "/api/v1/p/hello/greeting";
    for restarts in 1..=2 {
        kill(pid_of(&plugin_info(&app, "hello").await));
        until(
            &app,
            greeting,
            StatusCode::OK,
            &[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE],
            Duration::from_secs(5),
        )
        .await;
        // Wait for the restart to be counted (the old process may have answered last).
        let deadline = Instant::now() + Duration::from_secs(5);
        while plugin_info(&app, "hello").await["process"]["restarts"] != restarts {
            assert!(Instant::now() < deadline, "restart {restarts} not counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let last = pid_of(&plugin_info(&app, "hello").await);
    kill(last);
    let deadline = Instant::now() + Duration::from_secs(5);
    let info = loop {
        let info = plugin_info(&app, "hello").await;
        if info["state"] == "failed" {
            break info;
        }
        assert!(Instant::now() < deadline, "not failed: {info}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(info["process"]["restarts"], 2);
    assert_eq!(info["process"]["pid"], Value::Null);
    assert!(
        info["process"]["last_exit"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{info}"
    );
    let reply = send(&app, get(greeting)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !reply.headers.contains_key("retry-after"),
        "retrying a failed plugin does not help"
    );
    // Still failed a while later: no more restarts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(plugin_info(&app, "hello").await["state"], "failed");

    let metrics = send(&app, get("/metrics")).await.body;
    assert!(
        metrics.contains("flovyn_plugin_up{plugin=\"hello\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flovyn_plugin_restarts_total{plugin=\"hello\"} 2"),
        "{metrics}"
    );
    // The linked plugin is not supervised and serves on.
    assert_eq!(
        send(&app, get_as("/api/v1/p/worker-token/tokens", ADMIN))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_hangs_gets_504_at_its_deadline_and_holds_nothing_else_up() {
    let mut spec = ProcessSpec::new("remote-probe", plugin_executable("remote-probe-plugin"));
    spec.request_timeout = Duration::from_millis(500);
    let (_state, app, _dir) = server(spec).await;

    let app_for_hang = app.clone();
    let hung = tokio::spawn(async move {
        let started = Instant::now();
        let reply = send(&app_for_hang, get("/api/v1/p/remote-probe/wait?ms=60000")).await;
        (reply, started.elapsed())
    });
    // Meanwhile the same plugin's other route and the rest of the server answer at once.
    for _ in 0..5 {
        let started = Instant::now();
        let now = send(&app, get("/api/v1/p/remote-probe/now")).await;
        assert_eq!(now.status, StatusCode::OK, "{}", now.body);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(send(&app, get("/_/health")).await.status, StatusCode::OK);
    }
    let (reply, took) = hung.await.unwrap();
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "gateway_timeout");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plugin `remote-probe` did not answer within 0.5 s"),
        "{}",
        reply.body
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // A slow answer within the deadline is an answer.
    let reply = send(&app, get("/api/v1/p/remote-probe/wait?ms=100")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(plugin_info(&app, "remote-probe").await["state"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stops_answering_its_health_check_is_killed_and_restarted() {
    let mut spec = ProcessSpec::new("hello", plugin_executable("hello-plugin"));
    spec.restart.health_interval = Duration::from_millis(200);
    spec.restart.health_failures = 3;
    spec.request_timeout = Duration::from_millis(500);
    let (_state, app, _dir) = server(spec).await;
    let frozen = pid_of(&plugin_info(&app, "hello").await);
    // Alive but answering nothing: stopped.
    let status = std::process::Command::new("kill")
        .args(["-STOP", &frozen.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(5);
    let info = loop {
        let info = plugin_info(&app, "hello").await;
        if info["process"]["restarts"] == 1 && info["state"] == "running" {
            break info;
        }
        assert!(Instant::now() < deadline, "not restarted: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        info["process"]["last_exit"]
            .as_str()
            .unwrap()
            .contains("killed after 3 failed health checks"),
        "{info}"
    );
    assert_ne!(pid_of(&info), frozen);
    assert!(!alive(frozen), "the frozen process was not killed");
    let (reply, _) = until(
        &app,
        "/api/v1/p/hello/greeting",
        StatusCode::OK,
        &[StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"message": "Hello, world!"})
    );
    eprintln!("stopped process replaced after {:?}", stopped.elapsed());
}
