//! The outbox's tables and the statements on them: writing an event (in the publisher's
//! transaction or on its own), sequencing committed events, retention.
//!
//! Owns the SQL of `_event_outbox`, `_event_cursors` and `_event_dead_letters`; the
//! deliverers ([`super::deliver`]) read and advance cursors through the functions here.

use std::sync::Arc;

use flovyn_sdk::Dialect;
use flovyn_sdk::events::{EventSink, OutboxEvent};
use sqlx::{AnyConnection, AnyPool, Row as _};
use tokio::sync::Notify;

/// The core migration creating the outbox, for `dialect`: ids are assigned at insert; `seq`
/// once the sequencer saw the row committed.
pub fn create_outbox(dialect: Dialect) -> String {
    let id = match dialect {
        Dialect::Postgres => "id BIGSERIAL PRIMARY KEY",
        Dialect::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    CREATE_OUTBOX.replace("{id}", id)
}

const CREATE_OUTBOX: &str = "CREATE TABLE _event_outbox (
    {id},
    event_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    publisher TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at TEXT NOT NULL,
    seq BIGINT UNIQUE
);
CREATE INDEX _event_outbox_unsequenced ON _event_outbox (id) WHERE seq IS NULL;
CREATE TABLE _event_cursors (
    plugin TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at_ms BIGINT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until_ms BIGINT
);
CREATE TABLE _event_dead_letters (
    plugin TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    replay_requested_at TEXT,
    PRIMARY KEY (plugin, event_id)
)";

const INSERT: &str = "INSERT INTO _event_outbox (event_id, name, publisher, payload, published_at) \
                      VALUES ($1, $2, $3, $4, $5)";

/// The PostgreSQL channel a sequencing pass notifies.
pub const NOTIFY_CHANNEL: &str = "flovyn_events";

/// The first key of the PostgreSQL advisory lock the sequencer holds (`"flve"`).
const SEQUENCER_LOCK: i64 = 0x666c_7665;

/// The server's outbox, as plugins publish to it ([`EventSink`]).
#[derive(Debug, Clone)]
pub struct Outbox {
    pool: AnyPool,
    /// Woken when events were committed: the sequencer runs at once.
    pub(super) committed: Arc<Notify>,
}

impl Outbox {
    /// The outbox in `pool`'s database.
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            committed: Arc::new(Notify::new()),
        }
    }
}

fn insert(event: &OutboxEvent) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(INSERT)
        .bind(&event.id)
        .bind(&event.name)
        .bind(&event.publisher)
        .bind(&event.payload)
        .bind(&event.published_at)
}

impl EventSink for Outbox {
    fn write_in<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        event: &'c OutboxEvent,
    ) -> flovyn_sdk::BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move { insert(event).execute(conn).await.map(drop) })
    }

    fn write<'a>(
        &'a self,
        event: &'a OutboxEvent,
    ) -> flovyn_sdk::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move { insert(event).execute(&self.pool).await.map(drop) })
    }

    fn committed(&self) {
        self.committed.notify_one();
    }
}

/// Numbers the committed events that have no `seq` yet, in id order, after the largest
/// `seq`; returns how many. One sequencer at a time (PostgreSQL: an advisory transaction
/// lock; SQLite has one writer, taken at `BEGIN IMMEDIATE` since this reads before it
/// writes), so a `seq` is visible only once every smaller one is.
pub async fn sequence(pool: &AnyPool, dialect: Dialect) -> Result<u64, sqlx::Error> {
    let mut tx = match dialect {
        Dialect::Sqlite => flovyn_sdk::db::begin_with(pool, "BEGIN IMMEDIATE").await?,
        Dialect::Postgres => flovyn_sdk::db::begin(pool).await?,
    };
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SEQUENCER_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    // seq = id + base: increasing with the id, above every seq given so far, gaps allowed.
    let row = sqlx::query(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM _event_outbox) AS top, \
                (SELECT MIN(id) FROM _event_outbox WHERE seq IS NULL) AS first",
    )
    .fetch_one(&mut *tx)
    .await?;
    let top: i64 = row.try_get("top")?;
    let Some(first) = row.try_get::<Option<i64>, _>("first")? else {
        return Ok(0);
    };
    let done = sqlx::query("UPDATE _event_outbox SET seq = id + $1 WHERE seq IS NULL")
        .bind(top - first + 1)
        .execute(&mut *tx)
        .await?;
    if dialect == Dialect::Postgres && done.rows_affected() > 0 {
        // Every replica's deliverers wake when this commits (see `super::listen`).
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Deletes events older than `cutoff` (RFC 3339) that every subscribing plugin in
/// `subscribers` has handled (or set aside); returns how many.
pub async fn prune(pool: &AnyPool, cutoff: &str, subscribers: &[&str]) -> Result<u64, sqlx::Error> {
    // The lowest cursor among the running subscribers; with none, every sequenced event.
    let mut lowest: Option<i64> = None;
    for plugin in subscribers {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM _event_cursors WHERE plugin = $1")
                .bind(*plugin)
                .fetch_optional(pool)
                .await?;
        let seq = seq.unwrap_or(0);
        lowest = Some(lowest.map_or(seq, |l| l.min(seq)));
    }
    let lowest = match lowest {
        Some(l) => l,
        None => {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM _event_outbox")
                .fetch_one(pool)
                .await?
        }
    };
    let done = sqlx::query(
        "DELETE FROM _event_outbox WHERE seq IS NOT NULL AND seq <= $1 AND published_at < $2 \
         AND event_id NOT IN (SELECT event_id FROM _event_dead_letters)",
    )
    .bind(lowest)
    .bind(cutoff)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
