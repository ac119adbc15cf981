//! Events between plugins through the assembled server: a request to one plugin publishes,
//! another plugin's `#[subscribe]` method receives it; the server's own events reach
//! plugins too; shutdown lets subscribers finish their queue before the stop hooks run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use flovyn_sdk::events::Events;
use flovyn_sdk::events::core::TenantCreated;
use flovyn_sdk::prelude::*;
use serde_json::json;

use crate::http::{ADMIN, Db, create_tenant, fixture_with, get_as, send};

/// What `pinger` publishes (`pinger.pinged`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pinged {
    pub n: u32,
}

/// Publishes `Pinged` on `POST /ping?n=…`.
#[flovyn_plugin(name = "pinger", events = [Pinged])]
#[derive(Debug)]
pub struct Pinger {
    events: Events,
}

#[derive(Debug, serde::Deserialize, IntoParams)]
pub struct PingQuery {
    pub n: u32,
}

#[plugin_impl]
impl Pinger {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            events: ctx.events().clone(),
        })
    }

    /// Publish one event; answers how many subscriptions queued it.
    #[route(POST, "/ping", public)]
    async fn ping(&self, Query(q): Query<PingQuery>) -> Json<usize> {
        Json(self.events.publish(Pinged { n: q.n }))
    }
}

/// Every `Pinged` the `ponger` plugin received, and when its stop hook ran (as an index
/// into the list at that time).
static RECEIVED: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static STOPPED_AFTER: Mutex<Option<usize>> = Mutex::new(None);
/// The tenants `ponger` heard of.
static TENANTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records every `Pinged`, slowly, and every tenant created.
#[flovyn_plugin(name = "ponger", depends_on = ["pinger"])]
#[derive(Debug, Default)]
pub struct Ponger;

#[plugin_impl]
impl Ponger {
    #[subscribe]
    async fn on_pinged(&self, e: Pinged) -> Result<(), PluginError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        RECEIVED.lock().unwrap().push(e.n);
        Ok(())
    }

    #[subscribe]
    async fn on_tenant(&self, e: TenantCreated) -> Result<(), PluginError> {
        TENANTS
            .lock()
            .unwrap()
            .push(format!("{} by {}", e.id, e.created_by));
        Ok(())
    }

    #[on_stop]
    async fn stop(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        *STOPPED_AFTER.lock().unwrap() = Some(RECEIVED.lock().unwrap().len());
        Ok(())
    }
}

fn ping(n: u32) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(format!("/api/v1/p/pinger/ping?n={n}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Waits until `done`, failing after a second.
async fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "the event did not arrive within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_event_crosses_plugins_and_shutdown_drains_it_before_the_stop_hooks() {
    let f = fixture_with(Db::Sqlite, &["pinger", "ponger"], |_| {})
        .await
        .unwrap();

    // The operator sees who publishes and who subscribes.
    let plugins = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    assert_eq!(plugins[0]["name"], "pinger");
    assert_eq!(plugins[0]["events"], json!(["pinger.pinged"]));
    assert_eq!(plugins[0]["subscriptions"], json!([]));
    assert_eq!(
        plugins[1]["subscriptions"],
        json!([
            {"event": "pinger.pinged", "handler": "on_pinged"},
            {"event": "core.tenant-created", "handler": "on_tenant"},
        ])
    );

    let r = send(&f.router, ping(1)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "1"));
    wait_for(|| !RECEIVED.lock().unwrap().is_empty()).await;
    assert_eq!(*RECEIVED.lock().unwrap(), vec![1]);

    // The server's own events reach plugins too.
    create_tenant(&f, "acme", "Acme").await;
    wait_for(|| !TENANTS.lock().unwrap().is_empty()).await;
    assert_eq!(*TENANTS.lock().unwrap(), vec!["acme by admin".to_owned()]);

    // Queued but not yet handled at shutdown: handled before the stop hooks, in order.
    for n in 2..=6 {
        assert_eq!(send(&f.router, ping(n)).await.status, StatusCode::OK);
    }
    f.state.shutdown().await;
    assert_eq!(*RECEIVED.lock().unwrap(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(*STOPPED_AFTER.lock().unwrap(), Some(6));

    // After shutdown nothing is taken any more.
    let r = send(&f.router, ping(7)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "0"));
}
