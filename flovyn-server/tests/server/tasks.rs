//! Periodic tasks through the assembled server: they run on schedule, failures and panics
//! are isolated and shown in `/_/plugins`, shutdown stops them; on PostgreSQL two replicas
//! sharing a database run each tick once, and never one task twice at the same time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use flovyn_sdk::Database;
use flovyn_sdk::db::sqlx::{self, Row as _};
use flovyn_sdk::prelude::*;
use flovyn_server::config::Config;
use flovyn_server::startup;

use crate::http::{ADMIN, Db, fixture_with, get_as, send};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Records every run of its tasks in its table: `tick` is quick, `crawl` outlasts its
/// interval.
#[flovyn_plugin(name = "ticker")]
#[migration(
    1,
    "create_runs",
    sql = "CREATE TABLE p_ticker__runs (task TEXT NOT NULL, started_ms BIGINT NOT NULL, finished_ms BIGINT)"
)]
#[derive(Debug)]
pub struct Ticker {
    db: Database,
}

#[plugin_impl]
impl Ticker {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            db: ctx.database()?.clone(),
        })
    }

    #[task(every = "200ms")]
    async fn tick(&self) -> Result<(), PluginError> {
        self.record("tick", Duration::ZERO).await
    }

    #[task(every = "200ms")]
    async fn crawl(&self) -> Result<(), PluginError> {
        self.record("crawl", Duration::from_millis(450)).await
    }
}

impl Ticker {
    async fn record(&self, task: &str, takes: Duration) -> Result<(), PluginError> {
        let started = now_ms();
        let fail = |e: sqlx::Error| PluginError::new(e.to_string());
        sqlx::query("INSERT INTO p_ticker__runs (task, started_ms) VALUES ($1, $2)")
            .bind(task)
            .bind(started)
            .execute(&self.db)
            .await
            .map_err(fail)?;
        tokio::time::sleep(takes).await;
        sqlx::query(
            "UPDATE p_ticker__runs SET finished_ms = $1 WHERE task = $2 AND started_ms = $3",
        )
        .bind(now_ms())
        .bind(task)
        .bind(started)
        .execute(&self.db)
        .await
        .map_err(fail)?;
        Ok(())
    }
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

/// Fails its first run, panics in its second, then succeeds.
#[flovyn_plugin(name = "flaky")]
#[derive(Debug, Default)]
pub struct Flaky;

#[plugin_impl]
impl Flaky {
    #[task(every = "300ms")]
    async fn wobble(&self) -> Result<(), PluginError> {
        match FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) {
            0 => Err(PluginError::new("the disk is full")),
            1 => panic!("task bug"),
            _ => Ok(()),
        }
    }
}

/// Sleeps far longer than any shutdown grace.
#[flovyn_plugin(name = "sleeper")]
#[derive(Debug, Default)]
pub struct Sleeper;

#[plugin_impl]
impl Sleeper {
    #[task(every = "1h")]
    async fn nap(&self) -> Result<(), PluginError> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

/// (started, finished) of every finished run of `task`, by start.
async fn runs(db: &sqlx::AnyPool, task: &str) -> Vec<(i64, i64)> {
    sqlx::query("SELECT started_ms, finished_ms FROM p_ticker__runs WHERE task = $1 AND finished_ms IS NOT NULL ORDER BY started_ms")
        .bind(task)
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("started_ms").unwrap(), r.try_get("finished_ms").unwrap()))
        .collect()
}

#[tokio::test]
async fn tasks_run_on_schedule_and_stop_at_shutdown() {
    let f = fixture_with(Db::Sqlite, &["ticker"], |_| {}).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs(f.state.db().pool(), "tick").await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "`tick` did not run three times in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let r = send(&f.router, get_as("/_/plugins", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK);
    let tasks = &r.json()[0]["tasks"];
    assert_eq!(tasks[0]["name"], "tick");
    assert_eq!(tasks[0]["every"], "200ms");
    assert!(
        tasks[0]["next_run_at"].as_str().unwrap().ends_with('Z'),
        "{tasks}"
    );
    assert!(tasks[0]["last_run"]["started_at"].is_string(), "{tasks}");
    assert!(
        tasks[0]["last_run"]["replica"]
            .as_str()
            .unwrap()
            .contains('/'),
        "{tasks}"
    );
    assert_eq!(tasks[1]["name"], "crawl");

    // Shutdown waits for a run in progress (`crawl` takes 450 ms), then nothing runs any
    // more.
    f.state.shutdown().await;
    let unfinished: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM p_ticker__runs WHERE finished_ms IS NULL")
            .fetch_one(f.state.db().pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    assert_eq!(unfinished, 0, "a run was cut short at shutdown");
    let settled = runs(f.state.db().pool(), "tick").await.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(f.state.db().pool(), "tick").await.len(), settled);
}

#[tokio::test]
async fn a_failing_or_panicking_task_is_recorded_and_runs_again() {
    let f = fixture_with(Db::Sqlite, &["flaky"], |_| {}).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::<String>::new();
    while !seen.iter().any(|s| s == "ok") {
        assert!(Instant::now() < deadline, "results seen: {seen:?}");
        let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
        let last = &list[0]["tasks"][0]["last_run"];
        if let Some(result) = last["result"].as_str() {
            if result == "error" {
                assert_eq!(last["error"], "the disk is full");
            }
            if seen.last().map(String::as_str) != Some(result) {
                seen.push(result.to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.state.shutdown().await;
    assert_eq!(seen, ["error", "panicked", "ok"]);
}

#[tokio::test]
async fn a_run_outlasting_the_shutdown_grace_is_cancelled_and_recorded() {
    let f = fixture_with(Db::Sqlite, &["sleeper"], |c| c.http.shutdown_grace_secs = 1)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
        if list[0]["tasks"][0]["last_run"]["started_at"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "the task never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = Instant::now();
    f.state.shutdown().await;
    let took = stopping.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "shutdown took {took:?} with a 1 s grace"
    );
    let result: Option<String> =
        sqlx::query("SELECT last_result FROM task_run WHERE plugin = 'sleeper' AND task = 'nap'")
            .fetch_one(f.state.db().pool())
            .await
            .unwrap()
            .try_get("last_result")
            .unwrap();
    assert_eq!(result.as_deref(), Some("cancelled"));
}

async fn replica(url: &str) -> startup::AppState {
    let mut config = Config::default();
    config.database_url = url.to_owned();
    let plugins: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| p.name == "ticker")
        .collect();
    startup::start_with(config, &plugins, &[])
        .await
        .expect("starts")
}

#[tokio::test]
async fn two_replicas_on_postgres_run_each_tick_once_and_never_overlap() {
    let Some(pg) = crate::support::pg::shared() else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = tokio::join!(replica(&url), replica(&url));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::join!(a.shutdown(), b.shutdown());

    let pool = a.db().pool();
    let ticks = runs(pool, "tick").await;
    // 1.5 s at one run per 200 ms: at most 8 runs, not one per replica per tick.
    assert!((3..=8).contains(&ticks.len()), "{ticks:?}");
    for pair in ticks.windows(2) {
        // Claims are 200 ms apart; the run's own start lags its claim by a few queries.
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= 150,
            "two runs of `tick` {gap} ms apart: both replicas ran one tick: {ticks:?}"
        );
    }
    // `crawl` takes 450 ms every 200 ms: runs may be skipped, never overlap.
    let crawls = runs(pool, "crawl").await;
    assert!(!crawls.is_empty());
    for pair in crawls.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "a run of `crawl` started before the previous one finished: {crawls:?}"
        );
    }
}
