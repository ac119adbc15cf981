//! Events between plugins, as the server keeps them (decision 0014): the outbox plugins
//! publish to ([`outbox::Outbox`], an `EventSink`), the sequencer that numbers committed
//! events, and one deliverer per subscribing plugin ([`deliver`]) that hands them over at
//! least once, in order, with retries and dead letters; retention; what `/_/plugins` and
//! `/metrics` show of it.
//!
//! It does not know what an event means: it moves named JSON from the outbox to the
//! subscription (`PluginInstance::deliver`) the descriptor names for it.

pub mod deliver;
pub mod outbox;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flovyn_sdk::Dialect;
use flovyn_sdk::descriptor::SubscriptionId;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row as _};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::host::RunningPlugin;
pub use outbox::Outbox;

/// `[events]`: delivery of events between plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Attempts at handling an event before it is dead-lettered.
    pub max_attempts: u32,
    /// The wait before the first retry, in milliseconds; it doubles with each attempt.
    pub retry_first_ms: u64,
    /// The longest wait between retries, in seconds.
    pub retry_max_secs: u64,
    /// How long a handler may take before the attempt counts as failed, in seconds.
    pub handler_timeout_secs: u64,
    /// How long a replica keeps a subscribing plugin's events to itself without renewing its
    /// lease (another replica takes over after that), in seconds.
    pub lease_secs: u64,
    /// How often the outbox is looked at when nothing woke the server, in milliseconds (events
    /// published by another replica wait at most this long).
    pub poll_ms: u64,
    /// Hours an event is kept after every subscribing plugin handled it.
    pub retention_hours: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_first_ms: 500,
            retry_max_secs: 60,
            handler_timeout_secs: 30,
            lease_secs: 30,
            poll_ms: 500,
            retention_hours: 72,
        }
    }
}

/// Counters of one subscribing plugin's deliveries in this replica.
#[derive(Debug)]
pub struct Stats {
    delivered: AtomicU64,
    retries: AtomicU64,
    dead_letters: AtomicU64,
    /// Events waiting for the plugin, cluster-wide, as last counted by this replica.
    backlog: AtomicI64,
    /// Publish → handled, in seconds.
    latency: Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            delivered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            backlog: AtomicI64::new(0),
            // 1 ms … ~65 s, doubling: from a prompt push to a long retry.
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
        }
    }
}

impl Stats {
    fn delivered(&self, published_at: &str) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(at) = flovyn_sdk::time::parse(published_at)
            && let Ok(waited) = std::time::SystemTime::now().duration_since(at)
        {
            self.latency.observe(waited.as_secs_f64());
        }
    }
    fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    fn dead_lettered(&self) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
    }
    fn set_backlog(&self, n: i64) {
        self.backlog.store(n, Ordering::Relaxed);
    }

    /// Events waiting for the plugin, as last counted (about once a second while delivering
    /// or idle).
    pub fn backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Publish → handled of the events this replica delivered, in seconds.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    /// (delivered, retries, dead letters) in this replica since start.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.delivered.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.dead_letters.load(Ordering::Relaxed),
        )
    }
}

/// A subscribing plugin's delivery state, as `/_/plugins` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryStatus {
    /// Events waiting for it.
    pub backlog: i64,
    /// Failed attempts at its next event.
    pub attempts: i64,
    /// The last failure of its next event.
    pub last_error: Option<String>,
    /// Events set aside after too many failures.
    pub dead_letters: Vec<DeadLetter>,
}

/// One dead-lettered event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The event's id (replay it with `POST /_/plugins/{plugin}/dead-letters/{id}/replay`).
    pub event_id: String,
    /// Its name.
    pub event: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub last_error: String,
    /// When it was set aside.
    pub failed_at: String,
    /// Whether a replay is pending.
    pub replay_requested: bool,
}

/// The server's event machinery: the outbox, the sequencer and the deliverers.
#[derive(Debug)]
pub struct EventEngine {
    outbox: Outbox,
    stats: Vec<(&'static str, Arc<Stats>)>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl EventEngine {
    /// The outbox of `pool`'s database, with nothing delivering yet.
    pub fn new(pool: &AnyPool) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            outbox: Outbox::new(pool.clone()),
            stats: Vec::new(),
            stop,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Where plugins publish.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Creates each subscribing plugin's cursor (at the current end of the outbox, when it
    /// has none), then starts the sequencer and one deliverer per subscribing plugin.
    pub async fn start(
        &mut self,
        pool: &AnyPool,
        database_url: &str,
        dialect: Dialect,
        plugins: &[RunningPlugin],
        config: &EventsConfig,
    ) -> Result<(), sqlx::Error> {
        let sequenced = Arc::new(Notify::new());
        let mut subscribers = Vec::new();
        for p in plugins {
            let subscriptions: Vec<(&'static str, SubscriptionId)> = p
                .descriptor
                .subscriptions
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        s.event.as_str(),
                        SubscriptionId(u32::try_from(i).unwrap_or(u32::MAX)),
                    )
                })
                .collect();
            if subscriptions.is_empty() {
                continue;
            }
            deliver::ensure_cursor(pool, &p.descriptor.name).await?;
            let stats = Arc::new(Stats::default());
            self.stats.push((p.descriptor.name.as_str(), stats.clone()));
            subscribers.push(deliver::Subscriber {
                plugin: p.descriptor.name.as_str(),
                instance: p.instance.clone(),
                subscriptions,
                stats,
            });
        }
        let names: Vec<&'static str> = subscribers.iter().map(|s| s.plugin).collect();
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if dialect == Dialect::Postgres && !subscribers.is_empty() {
            tasks.push(tokio::spawn(listen(
                database_url.to_owned(),
                sequenced.clone(),
                self.stop.subscribe(),
            )));
        }
        tasks.push(tokio::spawn(sequencer(
            pool.clone(),
            dialect,
            self.outbox.committed.clone(),
            sequenced.clone(),
            config.clone(),
            names,
            self.stop.subscribe(),
        )));
        for subscriber in subscribers {
            tasks.push(tokio::spawn(deliver::run(
                subscriber,
                pool.clone(),
                config.clone(),
                sequenced.clone(),
                self.stop.subscribe(),
            )));
        }
        Ok(())
    }

    /// This replica's counters per subscribing plugin.
    pub fn stats(&self) -> &[(&'static str, Arc<Stats>)] {
        &self.stats
    }

    /// Stops delivering: handlers under way get up to `grace` to finish (their event is
    /// delivered again later if they do not).
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(grace, futures_util::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!(
                "event handlers still busy at shutdown: cancelled (they will be delivered again)"
            );
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
    }
}

/// On PostgreSQL: wakes this replica's deliverers whenever any replica sequenced events
/// (`LISTEN`), so an event published on one replica is handled at once on another. Polling
/// still covers a dropped connection; it reconnects.
async fn listen(url: String, sequenced: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            result = listen_once(&url, &sequenced) => {
                let Err(e) = result;
                tracing::warn!(error = %e, "listening for events failed; polling meanwhile");
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn listen_once(
    url: &str,
    sequenced: &Notify,
) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(outbox::NOTIFY_CHANNEL).await?;
    loop {
        listener.recv().await?;
        sequenced.notify_waiters();
    }
}

/// Numbers committed events when woken (or every poll), wakes the deliverers, prunes.
async fn sequencer(
    pool: AnyPool,
    dialect: Dialect,
    committed: Arc<Notify>,
    sequenced: Arc<Notify>,
    config: EventsConfig,
    subscribers: Vec<&'static str>,
    mut stop: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(config.poll_ms.max(10));
    let mut last_prune = std::time::Instant::now();
    loop {
        match outbox::sequence(&pool, dialect).await {
            Ok(0) => {}
            Ok(_) => sequenced.notify_waiters(),
            Err(e) => tracing::warn!(error = %e, "sequencing events failed"),
        }
        if last_prune.elapsed() > Duration::from_secs(60) {
            last_prune = std::time::Instant::now();
            let keep = Duration::from_secs(config.retention_hours.saturating_mul(3600));
            let cutoff = flovyn_sdk::time::at(std::time::SystemTime::now() - keep);
            match outbox::prune(&pool, &cutoff, &subscribers).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "delivered events past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "pruning events failed"),
            }
        }
        tokio::select! {
            () = committed.notified() => {}
            () = tokio::time::sleep(poll) => {}
            _ = stop.changed() => break,
        }
    }
}

/// `plugin`'s delivery state, or `None` when it subscribes to nothing (has no cursor).
pub async fn status(
    pool: &AnyPool,
    plugin: &str,
    events: &[String],
) -> Result<Option<DeliveryStatus>, sqlx::Error> {
    if events.is_empty() {
        return Ok(None);
    }
    let Some(cursor) =
        sqlx::query("SELECT seq, attempts, last_error FROM _event_cursors WHERE plugin = $1")
            .bind(plugin)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let at: i64 = cursor.try_get("seq")?;
    let names: Vec<&str> = events.iter().map(String::as_str).collect();
    let backlog = count_after(pool, at, &names).await?;
    let dead_letters = sqlx::query(
        "SELECT event_id, name, attempts, last_error, failed_at, replay_requested_at \
         FROM _event_dead_letters WHERE plugin = $1 ORDER BY seq",
    )
    .bind(plugin)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(DeadLetter {
            event_id: row.try_get("event_id")?,
            event: row.try_get("name")?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
            failed_at: row.try_get("failed_at")?,
            replay_requested: row
                .try_get::<Option<String>, _>("replay_requested_at")?
                .is_some(),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(DeliveryStatus {
        backlog,
        attempts: cursor.try_get("attempts")?,
        last_error: cursor.try_get("last_error")?,
        dead_letters,
    }))
}

/// Events named `names` in the outbox after `seq` (or not yet numbered).
pub(crate) async fn count_after(
    pool: &AnyPool,
    seq: i64,
    names: &[&str],
) -> Result<i64, sqlx::Error> {
    let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM _event_outbox WHERE (seq > $1 OR seq IS NULL) AND name IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(seq);
    for name in names {
        query = query.bind(*name);
    }
    query.fetch_one(pool).await?.try_get("n")
}

/// Asks for a dead-lettered event of `plugin` to be delivered again; `false` when there is
/// no such dead letter.
pub async fn request_replay(
    pool: &AnyPool,
    plugin: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE _event_dead_letters SET replay_requested_at = $1 WHERE plugin = $2 AND event_id = $3",
    )
    .bind(flovyn_sdk::time::now_rfc3339())
    .bind(plugin)
    .bind(event_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
