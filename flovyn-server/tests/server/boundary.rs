//! What crosses the process boundary, each through the host's whole path: a plugin process's
//! authenticator joins the server's stack (its identities, its 401s and 503s), its authorizer
//! decides with the host's checks, its periodic task runs on the host's scheduler, and its
//! routes read and write its table — in a transaction — through the host's storage. The
//! plugin is `remote-probe` (a test plugin built as `remote-probe-plugin`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use flovyn_server::host::Backend;
use flovyn_server::host::process::{ProcessBackend, ProcessSpec};
use flovyn_server::router::App;
use flovyn_server::startup::AppState;
use sqlx::Row as _;

use crate::http::{ADMIN, get, get_as, send};
use crate::support::db::{TestDb, on_both_databases};
use crate::support::process::plugin_executable;

const PROBE: &str = "/api/v1/p/remote-probe";

async fn server(test_db: &TestDb) -> (AppState, App) {
    server_with(test_db, |_| {}).await
}

/// [`server`], with the configuration changed by `configure` first.
async fn server_with(
    test_db: &TestDb,
    configure: impl FnOnce(&mut flovyn_server::config::Config),
) -> (AppState, App) {
    let mut config = flovyn_server::config::Config::default();
    configure(&mut config);
    config.database_url.clone_from(&test_db.url);
    config.admin_token = Some(ADMIN.to_owned());
    let spec = ProcessSpec::new("remote-probe", plugin_executable("remote-probe-plugin"));
    let process = ProcessBackend::start(&spec).await.unwrap();
    let backends: Vec<Arc<dyn Backend>> = vec![Arc::new(process)];
    let state = flovyn_server::startup::start_backends(config, backends)
        .await
        .expect("the server starts with the remote-probe process");
    let app = flovyn_server::router::build_router(state.clone());
    (state, app)
}

fn post_as(path: &str, token: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn its_authenticator_and_authorizer_join_the_hosts_checks(test_db: TestDb) {
    let (_state, app) = server(&test_db).await;
    // Its tokens authenticate anywhere on the server, the core routes included.
    let me = send(&app, get_as("/api/v1/me", "prb_alice")).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["principal_id"], "alice");
    assert_eq!(me.json()["principal_type"], "worker");
    let who = send(&app, get_as(&format!("{PROBE}/whoami"), "prb_alice")).await;
    assert_eq!((who.status, who.body.as_str()), (StatusCode::OK, "alice"));

    // Its invalid credentials are 401, its unavailable store 503, others' tokens not its own.
    let bad = send(&app, get_as(&format!("{PROBE}/whoami"), "prb_bad")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{}", bad.body);
    let down = send(&app, get_as(&format!("{PROBE}/whoami"), "prb_down")).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    let stranger = send(
        &app,
        get_as(&format!("{PROBE}/whoami"), "not-a-probe-token"),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    // The admin is still the core's.
    let admin = send(&app, get_as(&format!("{PROBE}/whoami"), ADMIN)).await;
    assert_eq!(
        (admin.status, admin.body.as_str()),
        (StatusCode::OK, "admin")
    );

    // Its authorizer denies `mallory` although her identity has the permission.
    let allowed = send(&app, post_as(&format!("{PROBE}/ticks"), "prb_bob")).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    let denied = send(&app, post_as(&format!("{PROBE}/ticks"), "prb_mallory")).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);

    // Its security scheme is in the merged spec.
    let spec = send(&app, get("/api-docs/openapi.json")).await.json();
    assert_eq!(
        spec["components"]["securitySchemes"]["probe_token"]["bearerFormat"],
        "prb_…"
    );
}

async fn its_routes_use_its_table_through_the_host_in_transactions(test_db: TestDb) {
    let (state, app) = server(&test_db).await;
    for expected in 1..=3 {
        let reply = send(&app, post_as(&format!("{PROBE}/ticks"), "prb_bob")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["count"], expected);
    }
    let counted = send(&app, get(&format!("{PROBE}/ticks?source=api"))).await;
    assert_eq!(counted.json()["count"], 3);
    // The rows are in the server's database, in the plugin's table.
    let rows = sqlx::query("SELECT COUNT(*) AS n FROM p_remote_probe__ticks WHERE source = 'api'")
        .fetch_one(state.db().pool())
        .await
        .unwrap();
    assert_eq!(rows.get::<i64, _>("n"), 3);
}

async fn its_task_runs_on_the_hosts_scheduler(test_db: TestDb) {
    let (state, app) = server(&test_db).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let counted = send(&app, get(&format!("{PROBE}/ticks?source=task"))).await;
        if counted.json()["count"].as_i64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the task did not run twice in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The host's scheduler recorded the runs.
    let info = send(&app, get_as("/_/plugins", ADMIN)).await.json();
    let probe = info
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "remote-probe")
        .unwrap()
        .clone();
    assert_eq!(probe["tasks"][0]["name"], "tick");
    assert_eq!(probe["tasks"][0]["last_run"]["result"], "ok", "{probe}");
    state.shutdown().await;
}

async fn its_events_go_through_the_outbox_both_ways(test_db: TestDb) {
    let (state, app) = server(&test_db).await;
    // Published by the process in its transaction, handled by the process through `Deliver`.
    let reply = send(&app, post_as(&format!("{PROBE}/ticks"), "prb_bob")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The server's own event reaches the process too.
    let tenant = Request::post("/api/v1/tenants")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"id":"acme","name":"Acme"}"#))
        .unwrap();
    assert_eq!(send(&app, tenant).await.status, StatusCode::CREATED);
    for source in ["probed", "tenant"] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let counted = send(&app, get(&format!("{PROBE}/ticks?source={source}"))).await;
            if counted.json()["count"] == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no `{source}` row: {}",
                counted.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The event is in the server's outbox, published by the plugin.
    let row = sqlx::query(
        "SELECT publisher, payload FROM _event_outbox WHERE name = 'remote-probe.probed'",
    )
    .fetch_one(state.db().pool())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("publisher"), "remote-probe");
    assert_eq!(row.get::<String, _>("payload"), r#"{"count":1}"#);
    state.shutdown().await;
}

/// Responses stream back: a server-sent event reaches the client although the stream never
/// ends (whole bodies would wait for the deadline's 504), a body larger than a gRPC message
/// crosses whole, and a small one still has its length.
#[tokio::test]
async fn its_responses_stream_back() {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let test_db = TestDb::sqlite();
    let (state, app) = server(&test_db).await;

    let response = app
        .clone()
        .oneshot(get(&format!("{PROBE}/stream")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first event within 5 s")
        .expect("a frame")
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: ready\n\n");
    // And the stream stays open.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), body.frame())
            .await
            .is_err()
    );
    drop(body);

    let response = app
        .clone()
        .oneshot(get(&format!("{PROBE}/big?mb=6")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 6 * 1024 * 1024);
    assert!(bytes.starts_with(b"0123456789012"));
    assert_eq!(&bytes[bytes.len() - 4..], b"2345");

    let response = app
        .clone()
        .oneshot(get(&format!("{PROBE}/now")))
        .await
        .unwrap();
    let length = axum::body::HttpBody::size_hint(response.body()).exact();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        length,
        Some(bytes.len() as u64),
        "a whole body keeps its length"
    );
    state.shutdown().await;
}

/// A handler that panics in the process: 500 for its client, as linked, the panic in the
/// server's log with the plugin's name, and the process serves on (no restart).
#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_process_serves_on() {
    let test_db = TestDb::sqlite();
    let (state, app) = server(&test_db).await;
    let before = send(&app, get_as("/_/plugins", ADMIN)).await.json()[0]["process"]["pid"].clone();
    let panicked = send(&app, get(&format!("{PROBE}/panic"))).await;
    assert_eq!(
        panicked.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        panicked.body
    );
    let now = send(&app, get(&format!("{PROBE}/now"))).await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.body);
    let after = send(&app, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(after[0]["process"]["pid"], before, "{after}");
    assert_eq!(after[0]["process"]["restarts"], 0, "{after}");
    state.shutdown().await;
}

/// A request larger than one frame (possible only with the body limit raised above it) is
/// refused alone with 413 before it reaches the process; the connection keeps serving.
#[tokio::test]
async fn a_request_beyond_one_frame_is_refused_alone() {
    use tower::ServiceExt as _;
    let test_db = TestDb::sqlite();
    let (state, app) = server_with(&test_db, |config| {
        config.http.body_limit_bytes = 80 * 1024 * 1024;
    })
    .await;
    let too_big = Request::get(format!("{PROBE}/now"))
        .body(Body::from(vec![b'x'; 64 * 1024 * 1024 + 1]))
        .unwrap();
    let refused = send(&app, too_big).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert_eq!(refused.json()["error"]["code"], "payload_too_large");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than a plugin process takes"),
        "{}",
        refused.body
    );
    // Still served, on the same connection.
    let response = app
        .clone()
        .oneshot(get(&format!("{PROBE}/now")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listing = send(&app, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(listing[0]["process"]["handle"], "frames", "{listing}");
    state.shutdown().await;
}

/// Requests go to the process as frames on one connection (decision 0021): a streamed body the
/// client does not read holds back only its own call — the plugin may run ahead of the client
/// by its credit, no more — while other requests are answered at once; then it flows whole.
#[tokio::test]
async fn a_held_streamed_response_holds_back_no_other_request() {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let test_db = TestDb::sqlite();
    let (state, app) = server(&test_db).await;
    let info = send(&app, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(info[0]["process"]["handle"], "frames", "{info}");

    // 8 MiB, of which the client reads nothing yet.
    let held = app
        .clone()
        .oneshot(get(&format!("{PROBE}/big?mb=8")))
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let started = Instant::now();
    for _ in 0..50 {
        let reply = send(&app, get(&format!("{PROBE}/now"))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "other requests waited behind the held one: {:?}",
        started.elapsed()
    );
    let bytes = held.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 8 * 1024 * 1024);
    // The digits repeat: byte n is `n % 10`, in order, nothing lost or doubled.
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(n, b)| *b == b'0' + (n % 10) as u8)
    );

    // Dropped half-read: the call is cancelled, and the connection serves on.
    for _ in 0..3 {
        let response = app
            .clone()
            .oneshot(get(&format!("{PROBE}/big?mb=8")))
            .await
            .unwrap();
        let mut body = response.into_body();
        body.frame().await.unwrap().unwrap();
        drop(body);
    }
    let reply = send(&app, get(&format!("{PROBE}/now"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    state.shutdown().await;
}

async fn at_shutdown_its_stop_hook_runs_and_the_process_exits(test_db: TestDb) {
    let (state, app) = server(&test_db).await;
    let info = send(&app, get_as("/_/plugins", ADMIN)).await.json();
    let pid = info
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "remote-probe")
        .and_then(|p| p["process"]["pid"].as_u64())
        .expect("a pid for remote-probe");
    let pool = state.db().pool().clone();
    state.shutdown().await;
    // `Shutdown` ran the plugin's `#[on_stop]` in the process, which wrote through the host.
    let stopped =
        sqlx::query("SELECT COUNT(*) AS n FROM p_remote_probe__ticks WHERE source = 'stop'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stopped.get::<i64, _>("n"), 1);
    // And the process is gone (reaped, not a zombie) once the server stopped.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(stat.is_err(), "process {pid} still there: {stat:?}");
}

on_both_databases!(
    at_shutdown_its_stop_hook_runs_and_the_process_exits,
    its_events_go_through_the_outbox_both_ways,
    its_authenticator_and_authorizer_join_the_hosts_checks,
    its_routes_use_its_table_through_the_host_in_transactions,
    its_task_runs_on_the_hosts_scheduler,
);
