//! HTTP behaviour of the assembled server, driven in-process through the router: core
//! endpoints, plugin routes behind their access rules, the layers (request id, JSON errors,
//! body limit, timeout, panics, metrics) and disabled plugins.

use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use flovyn_sdk::prelude::*;
use flovyn_server::config::Config;
use flovyn_server::router::App;
use flovyn_server::startup::{self, AppState};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) const ADMIN: &str = "an-admin-token-that-is-long-enough-0123";

/// Lifecycle events, in order, across the plugins of this module.
static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `[plugins.probe]`: a tag to tell this test's lifecycle events from other tests'.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    pub tag: String,
}

/// A plugin that misbehaves on purpose.
#[flovyn_plugin(name = "probe", depends_on = ["hello"], config = ProbeConfig)]
pub struct ProbePlugin {
    tag: String,
}

#[plugin_impl]
impl ProbePlugin {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(ProbePlugin {
            tag: ctx.config::<ProbeConfig>()?.tag,
        })
    }

    #[on_start]
    async fn start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        EVENTS
            .lock()
            .unwrap()
            .push(format!("start probe {}", self.tag));
        Ok(())
    }

    #[on_stop]
    async fn stop(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        EVENTS
            .lock()
            .unwrap()
            .push(format!("stop probe {}", self.tag));
        Ok(())
    }

    #[route(GET, "/panic", public)]
    async fn panic(&self) -> &'static str {
        panic!("secret internal detail")
    }

    #[route(POST, "/echo", public)]
    async fn echo(&self, body: String) -> String {
        body
    }

    #[route(GET, "/slow", public)]
    async fn slow(&self) -> &'static str {
        tokio::time::sleep(Duration::from_secs(2)).await;
        "late"
    }

    #[route(GET, "/secret", permission = "probe:read")]
    async fn secret(&self) -> &'static str {
        "secret"
    }

    #[route(GET, "/whoami")]
    async fn whoami(&self, who: Identity) -> String {
        who.principal_id
    }
}

/// A plugin whose start hook fails.
#[flovyn_plugin(name = "broken-start")]
#[derive(Default)]
pub struct BrokenStart;

#[plugin_impl]
impl BrokenStart {
    #[on_start]
    async fn start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        Err(PluginError::new("the widget store is unreachable"))
    }
}

/// Which database a fixture runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

pub(crate) struct Fixture {
    pub(crate) state: AppState,
    pub(crate) router: App,
    _dir: tempfile::TempDir,
}

async fn fixture(adjust: impl FnOnce(&mut Config)) -> Fixture {
    fixture_on(Db::Sqlite, adjust)
        .await
        .expect("SQLite is always available")
}

/// `None` when PostgreSQL is not installed (outside CI).
async fn fixture_on(db: Db, adjust: impl FnOnce(&mut Config)) -> Option<Fixture> {
    fixture_with(db, &["hello", "probe"], adjust).await
}

pub(crate) async fn fixture_with(
    db: Db,
    names: &[&str],
    adjust: impl FnOnce(&mut Config),
) -> Option<Fixture> {
    fixture_in(db, Mode::Linked, names, adjust).await
}

/// How a fixture runs the plugins that have a plugin executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// All linked into the server (this test binary).
    Linked,
    /// `hello`, `worker-token` and `audit-log`, when named, each in its own process
    /// (`<name>-plugin`); the others linked. Requests go to them as frames (decision 0021).
    Process,
    /// As [`Mode::Process`], with `handle = "grpc"`: requests go through gRPC `Handle`.
    ProcessGrpc,
}

/// The plugins that have a plugin executable.
const PROCESS_PLUGINS: [&str; 3] = ["hello", "worker-token", "audit-log"];

/// A server (in this process) with the plugins `names`, run as `mode` says.
pub(crate) async fn fixture_in(
    db: Db,
    mode: Mode,
    names: &[&str],
    adjust: impl FnOnce(&mut Config),
) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database_url = match db {
        Db::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("flovyn.db").display()
        ),
        Db::Postgres => crate::support::pg::shared()?.fresh_database().await,
    };
    config.admin_token = Some(ADMIN.to_owned());
    config.http.body_limit_bytes = 1024;
    config.http.request_timeout_secs = 1;
    adjust(&mut config);
    let in_process = |name: &str| mode != Mode::Linked && PROCESS_PLUGINS.contains(&name);
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| names.contains(&p.name) && !in_process(p.name))
        .collect();
    let state = if names.iter().any(|n| in_process(n)) {
        let mut backends: Vec<std::sync::Arc<dyn flovyn_server::host::Backend>> = plugins
            .iter()
            .map(|p| {
                std::sync::Arc::new(flovyn_server::host::linked::Linked(p))
                    as std::sync::Arc<dyn flovyn_server::host::Backend>
            })
            .collect();
        for name in names.iter().filter(|n| in_process(n)) {
            let mut spec = flovyn_server::host::process::ProcessSpec::new(
                *name,
                crate::support::process::plugin_executable(&format!("{name}-plugin")),
            );
            spec.frames = mode == Mode::Process;
            let backend = flovyn_server::host::process::ProcessBackend::start(&spec)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            backends.push(std::sync::Arc::new(backend));
        }
        startup::start_backends(config, backends).await
    } else {
        startup::start_with(config, &plugins, &[]).await
    }
    .expect("server starts");
    let router = flovyn_server::router::build_router(state.clone());
    // Each plugin process takes its requests the way the mode says.
    let listed = send(&router, get_as("/_/plugins", ADMIN)).await.json();
    let expected = if mode == Mode::Process {
        "frames"
    } else {
        "grpc"
    };
    for name in names.iter().filter(|n| in_process(n)) {
        let plugin = listed
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == *name))
            .unwrap_or_else(|| panic!("`{name}` is not listed: {listed}"));
        assert_eq!(plugin["process"]["handle"], expected, "{plugin}");
    }
    Some(Fixture {
        state,
        router,
        _dir: dir,
    })
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub(crate) async fn send<S>(app: &S, request: Request<Body>) -> Reply
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

pub(crate) fn get_as(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub(crate) fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

#[tokio::test]
async fn health_lists_the_plugins_in_start_order() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/_/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "plugins": [
                {"name": "hello", "version": env!("CARGO_PKG_VERSION")},
                {"name": "probe", "version": env!("CARGO_PKG_VERSION")},
            ]
        })
    );
}

#[tokio::test]
async fn plugin_routes_are_nested_under_their_prefix() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/api/v1/p/hello/greeting?name=Ada")).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"message": "Hello, Ada!"}))
    );
}

#[tokio::test]
async fn protected_routes_answer_401_then_403_then_200() {
    let f = fixture(|_| {}).await;
    let unauthorized = error("unauthorized", "authentication required");
    for request in [
        get("/api/v1/p/hello/me"),
        get_as("/api/v1/p/hello/me", "wrong-token"),
        get("/api/v1/p/probe/whoami"),
    ] {
        let r = send(&f.router, request).await;
        assert_eq!(
            (r.status, r.json()),
            (StatusCode::UNAUTHORIZED, unauthorized.clone())
        );
    }
    let r = send(&f.router, get_as("/api/v1/p/hello/me", ADMIN)).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"message": "Hello, admin!"}))
    );

    // A caller without the route's permission: a worker identity attached before the
    // server's own authentication.
    let worker = tower::Layer::layer(
        &axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                req.extensions_mut().insert(Identity {
                    principal_id: "w-1".into(),
                    principal_type: PrincipalType::Worker,
                    tenant: Some("default".into()),
                    roles: vec![],
                    permissions: vec!["hello:read".into()],
                });
                next.run(req).await
            },
        ),
        f.router.clone(),
    );
    let r = send(&worker, get("/api/v1/p/probe/secret")).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::FORBIDDEN,
            error(
                "forbidden",
                "this operation needs the `probe:read` permission"
            )
        )
    );
    let r = send(&worker, get("/api/v1/p/hello/me")).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"message": "Hello, w-1!"}))
    );
    let r = send(&worker, get("/api/v1/p/probe/whoami")).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "w-1"));
}

#[tokio::test]
async fn me_returns_the_callers_identity() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/api/v1/me")).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::UNAUTHORIZED,
            error("unauthorized", "authentication required")
        )
    );
    let r = send(&f.router, get_as("/api/v1/me", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["principal_id"], "admin");
    assert_eq!(r.json()["principal_type"], "admin");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/nope")).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::NOT_FOUND,
            error("not_found", "no route for this path")
        )
    );
    let r = send(&f.router, get("/api/v1/p/nobody/x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = send(
        &f.router,
        Request::delete("/api/v1/p/hello/greeting")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn head_is_guarded_like_get() {
    let f = fixture(|_| {}).await;
    let r = send(
        &f.router,
        Request::head("/api/v1/p/hello/me")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &f.router,
        Request::head("/api/v1/p/hello/me")
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let f = fixture(|_| {}).await;
    let ok = send(
        &f.router,
        Request::post("/api/v1/p/probe/echo")
            .body(Body::from("x".repeat(100)))
            .unwrap(),
    )
    .await;
    assert_eq!((ok.status, ok.body.len()), (StatusCode::OK, 100));
    let big = Request::post("/api/v1/p/probe/echo")
        .body(Body::from("x".repeat(4096)))
        .unwrap();
    let r = send(&f.router, big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");

    // A streamed body of unknown length is cut off once it passes the limit.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024]));
    let streamed = Request::post("/api/v1/p/probe/echo")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let r = send(&f.router, streamed).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_panicking_handler_gets_500_without_internals_and_the_server_keeps_serving() {
    let f = fixture(|_| {}).await;
    let r = send(
        &f.router,
        Request::get("/api/v1/p/probe/panic")
            .header("x-request-id", "req-42")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.json(),
        error("internal", "internal error (request id req-42)")
    );
    assert!(!r.body.contains("secret"), "{}", r.body);
    let r = send(&f.router, get("/api/v1/p/hello/greeting")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/api/v1/p/probe/slow")).await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.json()["error"]["code"], "request_timeout");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let f = fixture(|_| {}).await;
    let r = send(&f.router, get("/_/health")).await;
    let generated = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let r = send(
        &f.router,
        Request::get("/_/health")
            .header("x-request-id", "mine-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.headers.get("x-request-id").unwrap(), "mine-1");
}

#[tokio::test]
async fn metrics_count_requests_per_plugin() {
    let f = fixture(|_| {}).await;
    for _ in 0..3 {
        send(&f.router, get("/api/v1/p/hello/greeting")).await;
    }
    send(&f.router, get("/api/v1/p/hello/me")).await;
    send(&f.router, get("/api/v1/p/made-up/path")).await;
    let r = send(&f.router, get("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let text = r.body;
    assert!(
        text.contains(r#"flovyn_http_requests_total{plugin="hello",method="GET",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"flovyn_http_requests_total{plugin="hello",method="GET",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flovyn_http_requests_total{plugin="unknown",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"flovyn_http_request_duration_seconds_count{plugin="hello"} 4"#),
        "{text}"
    );
    assert!(
        !text.contains("made-up"),
        "client-chosen names never become labels: {text}"
    );
}

#[tokio::test]
async fn admin_plugin_listing_on_sqlite() {
    admin_plugin_listing(Db::Sqlite).await;
}

#[tokio::test]
async fn admin_plugin_listing_on_postgres() {
    admin_plugin_listing(Db::Postgres).await;
}

async fn admin_plugin_listing(db: Db) {
    let Some(f) = fixture_on(db, |c| {
        c.plugins
            .insert("probe".into(), json!({"enabled": true, "tag": "listing"}));
    })
    .await
    else {
        return;
    };
    let r = send(&f.router, get("/_/plugins")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&f.router, get_as("/_/plugins", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    let hello = &list[0];
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["state"], "running");
    assert_eq!(
        hello["description"],
        "Says hello, publicly or to the authenticated caller."
    );
    assert_eq!(
        hello["routes"][0],
        json!({"method": "GET", "path": "/api/v1/p/hello/greeting", "access": "public"})
    );
    let m = &hello["migrations"][0];
    assert_eq!(
        (m["version"].clone(), m["name"].clone()),
        (json!(1), json!("create_greetings"))
    );
    assert_eq!(m["checksum"].as_str().unwrap().len(), 64);
    assert!(m["applied_at"].is_string(), "{m}");
    assert_eq!(list[1]["name"], "probe");
    assert_eq!(list[1]["dependencies"], json!(["hello"]));
}

#[tokio::test]
async fn a_disabled_plugin_is_not_routed_migrated_or_started() {
    let f = fixture(|c| {
        c.plugins.insert("probe".into(), json!({"enabled": false}));
    })
    .await;
    let r = send(&f.router, get("/api/v1/p/probe/whoami")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let health = send(&f.router, get("/_/health")).await.json();
    assert_eq!(
        health["plugins"],
        json!([{"name": "hello", "version": env!("CARGO_PKG_VERSION")}])
    );
    let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(list[1]["name"], "probe");
    assert_eq!(list[1]["state"], "disabled");
    drop(f);

    // And a disabled plugin's migrations do not run.
    let f = fixture(|c| {
        c.plugins.insert("hello".into(), json!({"enabled": false}));
        c.plugins.insert("probe".into(), json!({"enabled": false}));
    })
    .await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'p_hello%'",
    )
    .fetch_all(f.state.db().pool())
    .await
    .unwrap();
    assert!(tables.is_empty(), "{tables:?}");
    let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(list[0]["state"], "disabled");
    assert_eq!(list[0]["migrations"][0]["applied_at"], Value::Null);
}

#[tokio::test]
async fn hooks_run_in_dependency_order_and_stop_in_reverse() {
    let f = fixture(|c| {
        c.plugins.insert("probe".into(), json!({"tag": "hooks"}));
    })
    .await;
    f.state.shutdown().await;
    let events = EVENTS.lock().unwrap().clone();
    let start = events.iter().position(|e| e == "start probe hooks");
    let stop = events.iter().rposition(|e| e == "stop probe hooks");
    assert!(
        matches!((start, stop), (Some(a), Some(b)) if a < b),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_drains_in_flight_requests_then_runs_stop_hooks() {
    let f = fixture(|c| {
        c.http.request_timeout_secs = 30;
        c.plugins.insert("probe".into(), json!({"tag": "drain"}));
    })
    .await;
    let (addr, stop, server) = crate::connections::listening(&f).await;

    let in_flight = tokio::task::spawn_blocking(move || {
        crate::support::process::get(addr, "/api/v1/p/probe/slow", &[])
            .expect("in-flight request answered")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        crate::support::process::get(addr, "/_/health", &[]).is_err(),
        "no new connections once shutting down"
    );
    let response = in_flight.await.unwrap();
    assert_eq!((response.status, response.body.as_str()), (200, "late"));
    server.await.unwrap();
    let events = EVENTS.lock().unwrap().clone();
    assert!(
        events.contains(&"stop probe drain".to_owned()),
        "stop hook ran: {events:?}"
    );
}

#[tokio::test]
async fn a_failing_start_hook_stops_start_up_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("flovyn.db").display()
    );
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| ["hello", "broken-start"].contains(&p.name))
        .collect();
    let err = startup::start_with(config, &plugins, &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `broken-start` failed to start: the widget store is unreachable"
    );
}

#[tokio::test]
async fn a_disabled_plugins_migrations_do_not_run_on_postgres() {
    let Some(f) = fixture_on(Db::Postgres, |c| {
        c.plugins.insert("hello".into(), json!({"enabled": false}));
        c.plugins.insert("probe".into(), json!({"enabled": false}));
    })
    .await
    else {
        return;
    };
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_name LIKE 'p_hello%'",
    )
    .fetch_all(f.state.db().pool())
    .await
    .unwrap();
    assert!(tables.is_empty(), "{tables:?}");
    let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(
        (list[0]["name"].clone(), list[0]["state"].clone()),
        (json!("hello"), json!("disabled"))
    );
}

// ---- the auth stack plugins extend ----

/// Authenticates `tst_*` bearer tokens and has opinions on some actions.
#[flovyn_plugin(name = "gatekeeper")]
#[derive(Default)]
pub struct Gatekeeper;

#[plugin_impl]
impl Gatekeeper {
    /// Test tokens: `tst_good`, `tst_bad`, `tst_down`, `tst_panic`.
    #[authenticator(scheme = "test_token", bearer_format = "tst_…")]
    async fn authenticate(
        &self,
        request: &flovyn_sdk::auth::AuthRequest<'_>,
    ) -> flovyn_sdk::auth::AuthOutcome {
        use flovyn_sdk::auth::AuthOutcome;
        match request.bearer_token() {
            Some("tst_good") => AuthOutcome::Authenticated(Identity {
                principal_id: "worker-7".into(),
                principal_type: PrincipalType::Worker,
                tenant: Some("default".into()),
                roles: vec![],
                permissions: vec!["gatekeeper:read".into(), "gatekeeper:forbidden".into()],
            }),
            Some("tst_down") => AuthOutcome::Unavailable("token store offline".into()),
            Some("tst_panic") => panic!("authenticator bug"),
            Some(t) if t.starts_with("tst_") => AuthOutcome::Invalid,
            _ => AuthOutcome::NotMine,
        }
    }

    #[authorizer]
    async fn authorize(
        &self,
        _who: &Identity,
        request: &flovyn_sdk::auth::AuthzRequest<'_>,
    ) -> flovyn_sdk::auth::Decision {
        use flovyn_sdk::auth::Decision;
        match request.action {
            "gatekeeper:forbidden" => Decision::Deny,
            "gatekeeper:granted" => Decision::Allow,
            "gatekeeper:broken" => panic!("authorizer bug"),
            _ => Decision::Abstain,
        }
    }

    #[route(GET, "/read", permission = "gatekeeper:read")]
    async fn read(&self, who: Identity) -> String {
        who.principal_id
    }

    #[route(GET, "/forbidden", permission = "gatekeeper:forbidden")]
    async fn forbidden(&self) -> &'static str {
        "never"
    }

    #[route(GET, "/granted", permission = "gatekeeper:granted")]
    async fn granted(&self) -> &'static str {
        "granted"
    }

    #[route(GET, "/broken", permission = "gatekeeper:broken")]
    async fn broken(&self) -> &'static str {
        "never"
    }
}

async fn gate() -> Fixture {
    fixture_with(Db::Sqlite, &["hello", "gatekeeper"], |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn a_plugin_authenticator_joins_the_stack() {
    let f = gate().await;
    let r = send(&f.router, get_as("/api/v1/me", "tst_good")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            r.json()["principal_id"].clone(),
            r.json()["principal_type"].clone()
        ),
        (json!("worker-7"), json!("worker"))
    );
    let r = send(&f.router, get_as("/api/v1/p/gatekeeper/read", "tst_good")).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "worker-7"));
    // The admin token is still recognised by the core authenticator.
    let r = send(&f.router, get_as("/api/v1/p/gatekeeper/read", ADMIN)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "admin"));
}

#[tokio::test]
async fn invalid_credentials_get_the_same_401_as_none() {
    let f = gate().await;
    let none = send(&f.router, get("/api/v1/p/gatekeeper/read")).await;
    for token in ["tst_bad", "tst_unknown", "not-a-token-anyone-knows"] {
        let r = send(&f.router, get_as("/api/v1/p/gatekeeper/read", token)).await;
        assert_eq!((r.status, &r.body), (none.status, &none.body), "{token}");
    }
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    // Public routes ignore a bad credential.
    let r = send(&f.router, get_as("/api/v1/p/hello/greeting", "tst_bad")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unavailable_or_panicking_authenticator_gives_503_not_401() {
    let f = gate().await;
    for token in ["tst_down", "tst_panic"] {
        let r = send(&f.router, get_as("/api/v1/p/gatekeeper/read", token)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{token}");
        assert_eq!(r.json()["error"]["code"], "service_unavailable");
    }
    let r = send(&f.router, get("/api/v1/p/hello/greeting")).await;
    assert_eq!(r.status, StatusCode::OK, "the server keeps serving");
}

#[tokio::test]
async fn authorizers_deny_wins_then_allow_else_deny_and_a_panic_denies() {
    let f = gate().await;
    // Deny wins over the worker's own permission and over the admin's `*`.
    for token in ["tst_good", ADMIN] {
        let r = send(&f.router, get_as("/api/v1/p/gatekeeper/forbidden", token)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{token}");
    }
    // An authorizer's allow grants what the identity lacks.
    let r = send(
        &f.router,
        get_as("/api/v1/p/gatekeeper/granted", "tst_good"),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "granted"));
    // A panicking authorizer denies, even the admin.
    let r = send(&f.router, get_as("/api/v1/p/gatekeeper/broken", ADMIN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "forbidden");
}

#[tokio::test]
async fn a_short_admin_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("flovyn.db").display()
    );
    config.admin_token = Some("too-short".into());
    let hello: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| p.name == "hello")
        .collect();
    let err = startup::start_with(config, &hello, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the admin token (`FLOVYN_ADMIN_TOKEN`) is 9 bytes long; use at least 32"),
        "{err}"
    );
}

#[test]
fn authenticators_add_their_security_schemes_to_the_spec() {
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| ["hello", "gatekeeper"].contains(&p.name))
        .map(|p| p.descriptor())
        .collect();
    let doc = serde_json::to_value(flovyn_server::api::openapi::merged(plugins)).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["test_token"];
    assert_eq!(
        (scheme["scheme"].clone(), scheme["bearerFormat"].clone()),
        (json!("bearer"), json!("tst_…"))
    );
    assert_eq!(
        doc["paths"]["/api/v1/p/gatekeeper/read"]["get"]["security"],
        json!([{"bearer": []}, {"test_token": []}])
    );
    assert_eq!(
        doc["paths"]["/api/v1/p/hello/greeting"]["get"]["security"],
        json!([])
    );
}

/// The plugins this build links (not the test plugins of this binary).
fn linked_plugins() -> Vec<&'static flovyn_sdk::PluginDescriptor> {
    flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| flovyn_server::linked::EXPECTED_PLUGIN_CRATES.contains(&p.crate_name))
        .map(|p| p.descriptor())
        .collect()
}

#[tokio::test]
async fn every_protected_plugin_route_answers_401_without_credentials() {
    let names: Vec<&str> = linked_plugins().iter().map(|p| p.name.as_str()).collect();
    let f = fixture_with(Db::Sqlite, &names, |_| {}).await.unwrap();
    let mut checked = 0;
    for plugin in linked_plugins() {
        for route in &plugin.routes {
            if route.access == flovyn_sdk::descriptor::Access::Public {
                continue;
            }
            // Any value fills a `{param}`: access is checked before the handler runs.
            let path: String = plugin
                .served_path(&route.path)
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let request = Request::builder()
                .method(route.method.as_str())
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let r = send(&f.router, request).await;
            assert_eq!(
                (r.status, r.json()),
                (
                    StatusCode::UNAUTHORIZED,
                    error("unauthorized", "authentication required")
                ),
                "{} {path}",
                route.method
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the linked plugins have protected routes");

    // And every protected operation of the served spec (its own view of the same routes),
    // the server's own (tag `core`) included.
    let spec = send(&f.router, get("/api-docs/openapi.json")).await.json();
    let (mut from_spec, mut core) = (0, 0);
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["security"] == json!([]) {
                continue;
            }
            if operation["tags"] == json!(["core"]) {
                core += 1;
            }
            let uri: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let r = send(&f.router, request).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            from_spec += 1;
        }
    }
    assert_eq!(
        from_spec - core,
        checked,
        "the spec lists the same protected operations as the registry"
    );
    assert_eq!(core, 6, "me, tenants ×3, plugins, replay");
}

/// Making a route public shows in review: the committed list must match.
#[test]
fn public_routes_snapshot() {
    let mut lines = vec![
        "GET /_/health".to_owned(),
        "GET /api-docs/openapi.json".to_owned(),
        "GET /docs".to_owned(),
        "GET /metrics".to_owned(),
    ];
    for plugin in linked_plugins() {
        for route in plugin
            .routes
            .iter()
            .filter(|r| r.access == flovyn_sdk::descriptor::Access::Public)
        {
            lines.push(format!(
                "{} {}",
                route.method,
                plugin.served_path(&route.path)
            ));
        }
    }
    let actual = lines.join("\n") + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/public-routes.txt");
    if std::env::var_os("FLOVYN_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, actual,
        "the public routes changed; review, then update docs/public-routes.txt with \
         FLOVYN_BLESS=1 cargo test -p flovyn-server --test server public_routes"
    );
}

// ---- tenants ----

/// Creates a worker token as the admin (201 expected): its secret, and the token as created.
pub(crate) async fn create_worker_token(f: &Fixture, body: Value) -> (String, Value) {
    let r = send(
        &f.router,
        post_json_as("/api/v1/p/worker-token/tokens", ADMIN, body),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = r.json();
    (created["token"].as_str().unwrap().to_owned(), created)
}

/// Creates a tenant as the admin (201 expected).
pub(crate) async fn create_tenant(f: &Fixture, id: &str, name: &str) {
    let r = send(
        &f.router,
        post_json_as("/api/v1/tenants", ADMIN, json!({"id": id, "name": name})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

pub(crate) fn post_json_as(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn tenants_on(db: Db) {
    let Some(f) = fixture_on(db, |_| {}).await else {
        return;
    };
    let r = send(&f.router, get("/api/v1/tenants")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = send(&f.router, get_as("/api/v1/tenants", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        (list[0]["id"].clone(), list[0]["name"].clone()),
        (json!("default"), json!("default"))
    );

    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/tenants",
            ADMIN,
            json!({"id": "acme", "name": "Acme"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.json()["id"].clone(), r.json()["name"].clone()),
        (json!("acme"), json!("Acme"))
    );

    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/tenants",
            ADMIN,
            json!({"id": "acme", "name": "Other"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/tenants",
            ADMIN,
            json!({"id": "Bad Id", "name": "X"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["error"]["message"],
        "the request body does not match its schema: id: \"Bad Id\" does not match \"^[a-z0-9-]{1,64}$\""
    );
    let r = send(
        &f.router,
        post_json_as("/api/v1/tenants", ADMIN, json!({"name": "Generated"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["id"].as_str().map(str::len), Some(36));

    let r = send(&f.router, get_as("/api/v1/tenants/acme", ADMIN)).await;
    assert_eq!(
        (r.status, r.json()["name"].clone()),
        (StatusCode::OK, json!("Acme"))
    );
    let r = send(&f.router, get_as("/api/v1/tenants/nope", ADMIN)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tenants_are_managed_by_the_admin_on_sqlite() {
    tenants_on(Db::Sqlite).await;
}

#[tokio::test]
async fn tenants_are_managed_by_the_admin_on_postgres() {
    tenants_on(Db::Postgres).await;
}
