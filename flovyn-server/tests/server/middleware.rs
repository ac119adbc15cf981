//! Plugins' middleware through the assembled server: order by priority, each only on the
//! paths of its scope, after authentication (it sees the identity), and a scope beyond the
//! plugin's prefix only with the operator's consent.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use flovyn_sdk::middleware::{Middleware, Next, Request};
use flovyn_sdk::prelude::*;
use flovyn_server::config::Config;
use flovyn_server::startup::{self, StartupError};
use serde_json::json;

use crate::http::{ADMIN, Db, fixture_with, get, get_as, send};

/// Adds `name` to the request's `x-trail` header.
fn mark(request: &mut Request, name: &str) {
    let trail = match request.headers().get("x-trail") {
        Some(t) => format!("{},{name}", t.to_str().unwrap()),
        None => name.to_owned(),
    };
    request
        .headers_mut()
        .insert("x-trail", HeaderValue::from_str(&trail).unwrap());
}

/// Sees every API request (with the operator's consent) and marks the responses.
#[flovyn_plugin(name = "gate-log")]
#[derive(Debug, Default)]
pub struct GateLog;

#[plugin_impl]
impl GateLog {
    #[middleware(priority = 10, paths = ["/api/v1/*"])]
    fn watch(&self) -> Middleware {
        Middleware::from_fn(|mut request: Request, next: Next| async move {
            mark(&mut request, "gate-log");
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .insert("x-seen-by-gate-log", HeaderValue::from_static("1"));
            response
        })
    }
}

/// Two middleware on its own prefix (one a plain tower layer) and a route showing the trail.
#[flovyn_plugin(name = "inner-mw")]
#[derive(Debug, Default)]
pub struct InnerMw;

#[plugin_impl]
impl InnerMw {
    #[middleware]
    fn first(&self) -> Middleware {
        Middleware::from_fn(|mut request: Request, next: Next| async move {
            mark(&mut request, "first");
            let principal = request
                .extensions()
                .get::<Identity>()
                .map(|who| who.principal_id.clone());
            let mut response = next.run(request).await;
            if let Some(p) = principal {
                response
                    .headers_mut()
                    .insert("x-principal", HeaderValue::from_str(&p).unwrap());
            }
            response
        })
    }

    #[middleware]
    fn second(&self) -> Middleware {
        Middleware::layer(tower::util::MapRequestLayer::new(|mut request: Request| {
            mark(&mut request, "second");
            request
        }))
    }

    /// The trail of middleware this request went through.
    #[route(GET, "/trail")]
    async fn trail(&self, headers: HeaderMap) -> String {
        headers
            .get("x-trail")
            .map(|t| t.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

/// Rewrites requests for its `/open` to another plugin's path.
#[flovyn_plugin(name = "rewriter")]
#[derive(Debug, Default)]
pub struct Rewriter;

#[plugin_impl]
impl Rewriter {
    #[middleware]
    fn rewrite(&self) -> Middleware {
        Middleware::layer(tower::util::MapRequestLayer::new(|mut request: Request| {
            *request.uri_mut() = "/api/v1/p/inner-mw/trail".parse().unwrap();
            request
        }))
    }

    /// Public: the edge lets anyone in here.
    #[route(GET, "/open", public)]
    async fn open(&self) -> &'static str {
        "open"
    }
}

fn consent(c: &mut Config) {
    c.plugins
        .insert("gate-log".into(), json!({"global_middleware": true}));
}

#[tokio::test]
async fn middleware_runs_in_priority_order_on_its_scope_only() {
    let f = fixture_with(Db::Sqlite, &["gate-log", "inner-mw", "hello"], consent)
        .await
        .unwrap();

    // Both plugins' middleware, outermost first, and the identity is visible to them.
    let r = send(&f.router, get_as("/api/v1/p/inner-mw/trail", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "gate-log,first,second");
    assert_eq!(r.headers["x-principal"], "admin");
    assert_eq!(r.headers["x-seen-by-gate-log"], "1");

    // Another plugin's route: only the middleware scoped to all of `/api/v1/*`.
    let r = send(&f.router, get("/api/v1/p/hello/greeting")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-seen-by-gate-log"], "1");
    assert!(r.headers.get("x-principal").is_none());

    // Outside every scope: none.
    let r = send(&f.router, get("/_/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("x-seen-by-gate-log").is_none());

    // A request the edge refuses never reaches middleware.
    let r = send(&f.router, get("/api/v1/p/inner-mw/trail")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get("x-seen-by-gate-log").is_none());

    // The operator sees each plugin's middleware and what it sees.
    let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(list[0]["name"], "gate-log");
    assert_eq!(
        list[0]["middleware"],
        json!([{"name": "watch", "priority": 10, "paths": ["/api/v1/*"]}])
    );
    assert_eq!(
        list[2]["middleware"],
        json!([
            {"name": "first", "priority": 100, "paths": ["/api/v1/p/inner-mw/*"]},
            {"name": "second", "priority": 100, "paths": ["/api/v1/p/inner-mw/*"]},
        ])
    );
    let order: Vec<String> = flovyn_server::http::middleware::order(f.state.plugins())
        .iter()
        .map(|a| format!("{}.{}", a.plugin, a.name))
        .collect();
    assert_eq!(
        order,
        ["gate-log.watch", "inner-mw.first", "inner-mw.second"]
    );
}

#[tokio::test]
async fn a_middleware_cannot_reroute_a_request_past_the_access_check() {
    let f = fixture_with(Db::Sqlite, &["rewriter", "inner-mw"], |_| {})
        .await
        .unwrap();
    // Without credentials, `/open` passes the edge; rerouted to a route needing a caller,
    // it is refused rather than served.
    let r = send(&f.router, get("/api/v1/p/rewriter/open")).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "internal", "{}", r.body);
    let r = send(&f.router, get("/api/v1/p/inner-mw/trail")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_scope_beyond_the_plugins_prefix_needs_the_operators_consent() {
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| p.name == "gate-log")
        .collect();
    let mut config = Config::default();
    config.database_url = "sqlite::memory:".into();
    let err = startup::start_with(config.clone(), &plugins, &[])
        .await
        .expect_err("refused without consent");
    assert!(matches!(err, StartupError::GlobalMiddleware { .. }));
    assert_eq!(
        err.to_string(),
        "plugin `gate-log` has middleware `watch` for `/api/v1/*`, beyond its own prefix `/api/v1/p/gate-log/`: allow it with `[plugins.gate-log] global_middleware = true`, or disable the plugin"
    );

    // The key exists only for plugins that ask for it.
    let hello: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| p.name == "hello")
        .collect();
    config
        .plugins
        .insert("hello".into(), json!({"global_middleware": true}));
    let err = startup::plan_linked(&hello, &[], &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `plugins.hello.global_middleware`"),
        "{err}"
    );
}
