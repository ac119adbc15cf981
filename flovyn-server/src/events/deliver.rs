//! Delivering the outbox to one subscribing plugin: while this replica holds the plugin's
//! lease, its events go to it one at a time in `seq` order; a failure is retried with
//! backoff, then dead-lettered; replays the admin asked for go first.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use flovyn_sdk::descriptor::SubscriptionId;
use flovyn_sdk::events::EventMeta;
use flovyn_sdk::host::PluginInstance;
use futures_util::FutureExt as _;
use sqlx::{AnyPool, Row as _};
use tokio::sync::{Notify, watch};

use super::{EventsConfig, Stats};
use crate::replica::now_ms;

/// One subscribing plugin, as its deliverer sees it.
pub(super) struct Subscriber {
    pub(super) plugin: &'static str,
    pub(super) instance: Arc<dyn PluginInstance>,
    /// Event name → the subscription handling it.
    pub(super) subscriptions: Vec<(&'static str, SubscriptionId)>,
    pub(super) stats: Arc<Stats>,
}

/// One event read from the outbox.
struct Stored {
    seq: i64,
    meta: EventMeta,
    payload: String,
}

impl Subscriber {
    fn subscription(&self, name: &str) -> Option<SubscriptionId> {
        self.subscriptions
            .iter()
            .find(|(event, _)| *event == name)
            .map(|(_, id)| *id)
    }

    /// `$2, $3, …` for the subscribed names.
    fn placeholders(&self, first: usize) -> String {
        (0..self.subscriptions.len())
            .map(|i| format!("${}", first + i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Creates `plugin`'s cursor at the current end of the outbox, unless it has one. (`WHERE
/// true` lets SQLite tell the upsert's `ON` from a join's.)
pub(super) async fn ensure_cursor(pool: &AnyPool, plugin: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO _event_cursors (plugin, seq, attempts) \
         SELECT $1, COALESCE(MAX(seq), 0), 0 FROM _event_outbox WHERE true \
         ON CONFLICT (plugin) DO NOTHING",
    )
    .bind(plugin)
    .execute(pool)
    .await
    .map(drop)
}

/// Delivers to `subscriber` until `stop` says so.
pub(super) async fn run(
    subscriber: Subscriber,
    pool: AnyPool,
    config: EventsConfig,
    sequenced: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let me = crate::replica::name();
    let poll = Duration::from_millis(config.poll_ms.max(10));
    let mut counted: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        // The backlog gauge, counted at most once a second (by every replica: a replica
        // without the lease shows the same cluster-wide number).
        if counted.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            counted = Some(std::time::Instant::now());
            match backlog(&subscriber, &pool).await {
                Ok(n) => subscriber.stats.set_backlog(n),
                Err(e) => {
                    tracing::debug!(plugin = subscriber.plugin, error = %e, "counting the event backlog failed")
                }
            }
        }
        // Registered before the step: a sequencing pass that ends during it still wakes
        // this loop (`notify_waiters` wakes only the waiters already registered).
        let sequenced_now = sequenced.notified();
        tokio::pin!(sequenced_now);
        sequenced_now.as_mut().enable();
        let wait = match step(&subscriber, &pool, &config, &me).await {
            Ok(Step::Delivered) => continue,
            Ok(Step::Idle) => poll,
            Ok(Step::RetryIn(after)) => after.min(poll),
            Err(e) => {
                tracing::warn!(plugin = subscriber.plugin, error = %e, "event delivery: database error");
                poll
            }
        };
        tokio::select! {
            () = sequenced_now => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    // Let another replica take over at once.
    let _ = sqlx::query(
        "UPDATE _event_cursors SET lease_owner = NULL, lease_until_ms = NULL \
         WHERE plugin = $1 AND lease_owner = $2",
    )
    .bind(subscriber.plugin)
    .bind(&me)
    .execute(&pool)
    .await;
}

/// Events waiting for `s`, cluster-wide.
async fn backlog(s: &Subscriber, pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let at: i64 = sqlx::query("SELECT seq FROM _event_cursors WHERE plugin = $1")
        .bind(s.plugin)
        .fetch_one(pool)
        .await?
        .try_get("seq")?;
    let names: Vec<&str> = s.subscriptions.iter().map(|(name, _)| *name).collect();
    super::count_after(pool, at, &names).await
}

enum Step {
    /// Something was handled (or set aside): look again at once.
    Delivered,
    /// Nothing to do (or not this replica's turn).
    Idle,
    /// The next event waits for its retry.
    RetryIn(Duration),
}

async fn step(
    s: &Subscriber,
    pool: &AnyPool,
    config: &EventsConfig,
    me: &str,
) -> Result<Step, sqlx::Error> {
    let now = now_ms();
    let lease_ms = i64::try_from(config.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let leased = sqlx::query(
        "UPDATE _event_cursors SET lease_owner = $1, lease_until_ms = $2 \
         WHERE plugin = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms < $4)",
    )
    .bind(me)
    .bind(now.saturating_add(lease_ms))
    .bind(s.plugin)
    .bind(now)
    .execute(pool)
    .await?;
    if leased.rows_affected() == 0 {
        return Ok(Step::Idle);
    }

    if let Some(replay) = next_replay(s, pool).await? {
        let outcome = handle(s, &replay, config).await;
        match outcome {
            Ok(()) => {
                sqlx::query("DELETE FROM _event_dead_letters WHERE plugin = $1 AND event_id = $2")
                    .bind(s.plugin)
                    .bind(&replay.meta.id)
                    .execute(pool)
                    .await?;
                tracing::info!(plugin = s.plugin, event = %replay.meta.name, id = %replay.meta.id, "dead-lettered event replayed");
            }
            Err(error) => {
                sqlx::query(
                    "UPDATE _event_dead_letters SET replay_requested_at = NULL, last_error = $1, \
                     attempts = attempts + 1 WHERE plugin = $2 AND event_id = $3",
                )
                .bind(&error)
                .bind(s.plugin)
                .bind(&replay.meta.id)
                .execute(pool)
                .await?;
            }
        }
        return Ok(Step::Delivered);
    }

    let cursor =
        sqlx::query("SELECT seq, attempts, retry_at_ms FROM _event_cursors WHERE plugin = $1")
            .bind(s.plugin)
            .fetch_one(pool)
            .await?;
    let at: i64 = cursor.try_get("seq")?;
    let attempts: i64 = cursor.try_get("attempts")?;
    let retry_at: Option<i64> = cursor.try_get("retry_at_ms")?;
    let batch = next_events(s, pool, at).await?;
    if batch.is_empty() {
        s.stats.set_backlog(0);
        return Ok(Step::Idle);
    }
    if let Some(retry_at) = retry_at
        && retry_at > now
    {
        let wait = u64::try_from(retry_at - now).unwrap_or(0);
        return Ok(Step::RetryIn(Duration::from_millis(wait)));
    }
    // A batch per lease renewal; it stops at the first failure (retried on a later step).
    let mut attempts = attempts;
    for event in batch {
        match handle(s, &event, config).await {
            Ok(()) => {
                if !advance(pool, s.plugin, me, event.seq).await? {
                    // The lease went to another replica meanwhile: it delivers from here.
                    return Ok(Step::Idle);
                }
                attempts = 0;
                s.stats.delivered(&event.meta.published_at);
            }
            Err(error) => {
                failed(s, pool, config, me, &event, attempts + 1, &error).await?;
                break;
            }
        }
    }
    Ok(Step::Delivered)
}

/// Records a failed attempt: a retry later, or, at the last attempt, a dead letter.
async fn failed(
    s: &Subscriber,
    pool: &AnyPool,
    config: &EventsConfig,
    me: &str,
    event: &Stored,
    attempts: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    s.stats.retried();
    if attempts >= i64::from(config.max_attempts) {
        tracing::error!(plugin = s.plugin, event = %event.meta.name, id = %event.meta.id, attempts, %error, "event dead-lettered");
        let mut tx = flovyn_sdk::db::begin(pool).await?;
        sqlx::query(
            "INSERT INTO _event_dead_letters (plugin, event_id, seq, name, attempts, last_error, failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (plugin, event_id) DO NOTHING",
        )
        .bind(s.plugin)
        .bind(&event.meta.id)
        .bind(event.seq)
        .bind(&event.meta.name)
        .bind(attempts)
        .bind(error)
        .bind(flovyn_sdk::time::now_rfc3339())
        .execute(&mut *tx)
        .await?;
        advance(&mut *tx, s.plugin, me, event.seq).await?;
        tx.commit().await?;
        s.stats.dead_lettered();
    } else {
        let backoff = backoff(config, attempts);
        tracing::warn!(plugin = s.plugin, event = %event.meta.name, id = %event.meta.id, attempts, retry_in = ?backoff, %error, "event handler failed; will retry");
        sqlx::query(
            "UPDATE _event_cursors SET attempts = $1, retry_at_ms = $2, last_error = $3 \
             WHERE plugin = $4 AND lease_owner = $5",
        )
        .bind(attempts)
        .bind(now_ms().saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX)))
        .bind(error)
        .bind(s.plugin)
        .bind(me)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The wait before attempt `attempts + 1`: the first backoff, doubling, at most the maximum.
fn backoff(config: &EventsConfig, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Duration::from_millis(config.retry_first_ms)
        .saturating_mul(2_u32.saturating_pow(exponent))
        .min(Duration::from_secs(config.retry_max_secs))
}

/// Moves `plugin`'s cursor to `seq` while this replica holds the lease; `false` when it
/// does not any more.
async fn advance<'e, E>(executor: E, plugin: &str, me: &str, seq: i64) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE _event_cursors SET seq = $1, attempts = 0, retry_at_ms = NULL, last_error = NULL \
         WHERE plugin = $2 AND lease_owner = $3",
    )
    .bind(seq)
    .bind(plugin)
    .bind(me)
    .execute(executor)
    .await
    .map(|done| done.rows_affected() == 1)
}

fn stored(row: &sqlx::any::AnyRow) -> Result<Stored, sqlx::Error> {
    Ok(Stored {
        seq: row.try_get("seq")?,
        meta: EventMeta {
            id: row.try_get("event_id")?,
            name: row.try_get("name")?,
            publisher: row.try_get("publisher")?,
            published_at: row.try_get("published_at")?,
        },
        payload: row.try_get("payload")?,
    })
}

/// How many events a deliverer reads at once.
const BATCH: i64 = 64;

async fn next_events(
    s: &Subscriber,
    pool: &AnyPool,
    after: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let sql = format!(
        "SELECT seq, event_id, name, publisher, published_at, payload FROM _event_outbox \
         WHERE seq > $1 AND name IN ({}) ORDER BY seq LIMIT {BATCH}",
        s.placeholders(2)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after);
    for (name, _) in &s.subscriptions {
        query = query.bind(*name);
    }
    query.fetch_all(pool).await?.iter().map(stored).collect()
}

async fn next_replay(s: &Subscriber, pool: &AnyPool) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query(
        "SELECT o.seq, o.event_id, o.name, o.publisher, o.published_at, o.payload \
         FROM _event_dead_letters d JOIN _event_outbox o ON o.event_id = d.event_id \
         WHERE d.plugin = $1 AND d.replay_requested_at IS NOT NULL ORDER BY d.seq LIMIT 1",
    )
    .bind(s.plugin)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(stored)
    .transpose()
}

/// Calls the plugin's handler; a failure, a panic or the timeout is the error's text.
async fn handle(s: &Subscriber, event: &Stored, config: &EventsConfig) -> Result<(), String> {
    let Some(subscription) = s.subscription(&event.meta.name) else {
        return Err(format!("no subscription to `{}`", event.meta.name));
    };
    let call = s
        .instance
        .deliver(subscription, &event.payload, &event.meta);
    let timeout = Duration::from_secs(config.handler_timeout_secs);
    match tokio::time::timeout(timeout, AssertUnwindSafe(call).catch_unwind()).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(_)) => Err("the handler panicked".to_owned()),
        Err(_) => Err(format!("the handler took longer than {timeout:?}")),
    }
}
