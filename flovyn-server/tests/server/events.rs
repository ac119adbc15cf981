//! Events between plugins through the assembled server (decision 0014): a request to one
//! plugin publishes, another plugin's `#[subscribe]` method receives it, in order; the
//! server's own events reach plugins too; events outlive the server that took them; a failing
//! handler is retried, then dead-lettered, and replayed by the admin.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use flovyn_sdk::events::core::TenantCreated;
use flovyn_sdk::events::{EventMeta, Events};
use flovyn_sdk::prelude::*;
use flovyn_server::config::Config;
use flovyn_server::startup::{self, AppState};
use serde_json::json;

use crate::http::{ADMIN, Db, create_tenant, fixture_with, get_as, send};

/// What `pinger` publishes (`pinger.pinged`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

    /// Publish one event.
    #[route(POST, "/ping", public, status = 204)]
    async fn ping(&self, Query(q): Query<PingQuery>) -> Result<NoContent, ApiError> {
        self.events.publish(Pinged { n: q.n }).await?;
        Ok(NoContent)
    }
}

/// Every `Pinged` the `ponger` plugin received, with its event id.
static RECEIVED: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
/// The tenants `ponger` heard of.
static TENANTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records every `Pinged`, slowly, and every tenant created.
#[flovyn_plugin(name = "ponger", depends_on = ["pinger"])]
#[derive(Debug, Default)]
pub struct Ponger;

#[plugin_impl]
impl Ponger {
    #[subscribe]
    async fn on_pinged(&self, e: Pinged, meta: EventMeta) -> Result<(), PluginError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        RECEIVED.lock().unwrap().push((e.n, meta.id));
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
}

fn ping(n: u32) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(format!("/api/v1/p/pinger/ping?n={n}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Waits until `done`, failing after `within`.
async fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `name`'s entry in `GET /_/plugins`.
async fn plugin_info(f: &crate::http::Fixture, name: &str) -> serde_json::Value {
    let plugins = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
    plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no `{name}` in /_/plugins"))
}

fn received() -> Vec<u32> {
    RECEIVED.lock().unwrap().iter().map(|(n, _)| *n).collect()
}

#[tokio::test]
async fn an_event_crosses_plugins_in_publish_order() {
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

    for n in 1..=6 {
        let r = send(&f.router, ping(n)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    wait_for("six events", Duration::from_secs(5), || {
        received().len() >= 6
    })
    .await;
    assert_eq!(received(), [1, 2, 3, 4, 5, 6]);
    let ids: std::collections::HashSet<String> = RECEIVED
        .lock()
        .unwrap()
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(ids.len(), 6, "every event has its own id");

    // The server's own events reach plugins too.
    create_tenant(&f, "acme", "Acme").await;
    wait_for("the tenant event", Duration::from_secs(5), || {
        !TENANTS.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*TENANTS.lock().unwrap(), vec!["acme by admin".to_owned()]);

    // Nothing left once the cursor moved past the last one (just after its handler).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ponger = plugin_info(&f, "ponger").await;
        assert_eq!(ponger["delivery"]["dead_letters"], json!([]));
        if ponger["delivery"]["backlog"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{ponger}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.state.shutdown().await;
}

/// Heard by `later`: the `Pinged` events it handled.
static LATER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A subscriber that is not always running.
#[flovyn_plugin(name = "later")]
#[derive(Debug, Default)]
pub struct Later;

#[plugin_impl]
impl Later {
    #[subscribe]
    async fn on_pinged(&self, e: Pinged) -> Result<(), PluginError> {
        LATER.lock().unwrap().push(e.n);
        Ok(())
    }
}

async fn start(url: &str, names: &[&str], adjust: impl FnOnce(&mut Config)) -> AppState {
    let mut config = Config::default();
    config.database_url = url.to_owned();
    config.admin_token = Some(ADMIN.to_owned());
    adjust(&mut config);
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| names.contains(&p.name))
        .collect();
    startup::start_with(config, &plugins, &[])
        .await
        .expect("server starts")
}

#[tokio::test]
async fn events_published_while_a_subscriber_is_away_reach_it_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("flovyn.db").display()
    );
    // First start: `later` subscribes (its cursor is created).
    let first = start(&url, &["pinger", "later"], |_| {}).await;
    first.shutdown().await;
    drop(first);
    // Without `later`: three events go into the outbox.
    let second = start(&url, &["pinger", "later"], |c| {
        c.plugins.insert("later".into(), json!({"enabled": false}));
    })
    .await;
    let app = flovyn_server::router::build_router(second.clone());
    for n in [7, 8, 9] {
        assert_eq!(send(&app, ping(n)).await.status, StatusCode::NO_CONTENT);
    }
    second.shutdown().await;
    drop((second, app));
    assert!(LATER.lock().unwrap().is_empty());
    // Back: it gets them, in order.
    let third = start(&url, &["pinger", "later"], |_| {}).await;
    wait_for("the events from before", Duration::from_secs(5), || {
        LATER.lock().unwrap().len() >= 3
    })
    .await;
    assert_eq!(*LATER.lock().unwrap(), [7, 8, 9]);
    third.shutdown().await;
}

/// `retrier` fails its first three attempts.
static FLAKY_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
static FLAKY_HANDLED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[flovyn_plugin(name = "retrier")]
#[derive(Debug, Default)]
pub struct Retrier;

#[plugin_impl]
impl Retrier {
    #[subscribe]
    async fn on_pinged(&self, e: Pinged) -> Result<(), PluginError> {
        if FLAKY_ATTEMPTS.fetch_add(1, Ordering::SeqCst) < 3 {
            return Err(PluginError::new("the disk is full"));
        }
        FLAKY_HANDLED.lock().unwrap().push(e.n);
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_handler_is_retried_and_its_event_handled_once() {
    let f = fixture_with(Db::Sqlite, &["pinger", "retrier"], |c| {
        c.events.retry_first_ms = 20;
    })
    .await
    .unwrap();
    assert_eq!(
        send(&f.router, ping(1)).await.status,
        StatusCode::NO_CONTENT
    );
    wait_for("the retried event", Duration::from_secs(5), || {
        !FLAKY_HANDLED.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*FLAKY_HANDLED.lock().unwrap(), [1]);
    assert_eq!(FLAKY_ATTEMPTS.load(Ordering::SeqCst), 4);
    // Counted once the cursor moved past it (just after the handler returned).
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = send(&f.router, get_as("/metrics", ADMIN)).await.body;
        if metrics.contains("flovyn_events_delivered_total{plugin=\"retrier\"} 1") {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        metrics.contains("flovyn_event_retries_total{plugin=\"retrier\"} 3"),
        "{metrics}"
    );
    // Its publish-to-handled latency includes the three retries' waits (20 + 40 + 80 ms).
    let latency_sum: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("flovyn_event_delivery_latency_seconds_sum{plugin=\"retrier\"} ")
        })
        .map(|v| v.trim().parse().unwrap())
        .expect("a latency histogram for retrier");
    assert!(latency_sum >= 0.14, "{latency_sum}");
    assert!(
        metrics.contains("flovyn_event_delivery_latency_seconds_count{plugin=\"retrier\"} 1"),
        "{metrics}"
    );
    // Not handled again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*FLAKY_HANDLED.lock().unwrap(), [1]);
    f.state.shutdown().await;
}

/// `broken` fails every `Pinged` while `BROKEN` is set.
static BROKEN: AtomicBool = AtomicBool::new(true);
static BROKEN_HANDLED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[flovyn_plugin(name = "broken")]
#[derive(Debug, Default)]
pub struct Broken;

#[plugin_impl]
impl Broken {
    #[subscribe]
    async fn on_pinged(&self, e: Pinged) -> Result<(), PluginError> {
        if BROKEN.load(Ordering::SeqCst) && e.n == 1 {
            return Err(PluginError::new(format!("cannot handle ping {}", e.n)));
        }
        BROKEN_HANDLED.lock().unwrap().push(e.n);
        Ok(())
    }
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_dead_lettered_and_replayed_by_the_admin() {
    let f = fixture_with(Db::Sqlite, &["pinger", "broken"], |c| {
        c.events.retry_first_ms = 10;
        c.events.max_attempts = 3;
    })
    .await
    .unwrap();
    assert_eq!(
        send(&f.router, ping(1)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&f.router, ping(2)).await.status,
        StatusCode::NO_CONTENT
    );
    // The plugin goes on past the dead letter.
    wait_for(
        "the event after the dead letter",
        Duration::from_secs(5),
        || !BROKEN_HANDLED.lock().unwrap().is_empty(),
    )
    .await;
    assert_eq!(*BROKEN_HANDLED.lock().unwrap(), [2]);

    let broken = plugin_info(&f, "broken").await;
    let letters = broken["delivery"]["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{broken}");
    assert_eq!(letters[0]["event"], "pinger.pinged");
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["last_error"], "cannot handle ping 1");
    let id = letters[0]["event_id"].as_str().unwrap().to_owned();

    // Replay needs the admin, and a dead letter that exists.
    let replay = |token: &str, id: &str| {
        axum::http::Request::post(format!("/_/plugins/broken/dead-letters/{id}/replay"))
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&f.router, replay(ADMIN, "no-such-event")).await.status,
        StatusCode::NOT_FOUND
    );
    BROKEN.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&f.router, replay(ADMIN, &id)).await.status,
        StatusCode::ACCEPTED
    );
    wait_for("the replayed event", Duration::from_secs(5), || {
        BROKEN_HANDLED.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(*BROKEN_HANDLED.lock().unwrap(), [2, 1]);
    // Handled, then removed from the dead letters.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let broken = plugin_info(&f, "broken").await;
        if broken["delivery"]["dead_letters"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "still dead-lettered: {broken}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*BROKEN_HANDLED.lock().unwrap(), [2, 1], "handled once");
    f.state.shutdown().await;
}

/// How many `Pinged` `keeper` handled.
static KEPT: AtomicU32 = AtomicU32::new(0);

#[flovyn_plugin(name = "keeper")]
#[derive(Debug, Default)]
pub struct Keeper;

#[plugin_impl]
impl Keeper {
    #[subscribe]
    async fn on_pinged(&self, _e: Pinged) -> Result<(), PluginError> {
        KEPT.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Retention deletes the events every running subscriber handled and that are older than the
/// cut-off; it keeps newer ones and those a subscriber has still to handle.
#[tokio::test]
async fn retention_deletes_only_handled_old_events() {
    use flovyn_server::events::outbox;
    let f = fixture_with(Db::Sqlite, &["pinger", "keeper"], |_| {})
        .await
        .unwrap();
    for n in [1, 2, 3] {
        assert_eq!(
            send(&f.router, ping(n)).await.status,
            StatusCode::NO_CONTENT
        );
    }
    wait_for("three events handled", Duration::from_secs(5), || {
        KEPT.load(Ordering::SeqCst) >= 3
    })
    .await;
    let pool = f.state.db().pool().clone();
    let count = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _event_outbox")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let long_ago = "2000-01-01T00:00:00.000Z";
    // Wait until the cursor moved past them (the handler ran before the cursor moved).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let backlog = plugin_info(&f, "keeper").await["delivery"]["backlog"].clone();
        if backlog == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "backlog {backlog}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Handled, but not older than the cut-off: kept.
    assert_eq!(
        outbox::prune(&pool, long_ago, &["keeper"]).await.unwrap(),
        0
    );
    assert_eq!(count().await, 3);
    // A subscriber that has not handled them holds them.
    sqlx::query("INSERT INTO _event_cursors (plugin, seq) VALUES ('behind', 0)")
        .execute(&pool)
        .await
        .unwrap();
    let tomorrow = flovyn_sdk::time::at(std::time::SystemTime::now() + Duration::from_secs(86_400));
    assert_eq!(
        outbox::prune(&pool, &tomorrow, &["keeper", "behind"])
            .await
            .unwrap(),
        0
    );
    // Old enough and handled by every running subscriber: deleted.
    assert_eq!(
        outbox::prune(&pool, &tomorrow, &["keeper"]).await.unwrap(),
        3
    );
    assert_eq!(count().await, 0);
    f.state.shutdown().await;
}
