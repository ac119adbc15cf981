//! `bench-events` — a bench-only plugin for `bench/run.sh events`: the latency from publish
//! to handled, across replicas.
//!
//! - `POST /api/v1/p/bench-events/publish` (public) begins a transaction, publishes one
//!   [`Ping`] in it carrying the time in microseconds taken just before, and commits: the
//!   same path as worker-token's `token-created` (`tx.publish`, then `commit`).
//! - Its own `#[subscribe]` handler records, per event, the publish time, the time it was
//!   handled (taken first thing in the handler) and the process that handled it
//!   (`std::process::id()`) in `p_bench_events__handled`; the benchmark computes the
//!   percentiles over those rows and checks which replica handled them.

use std::time::{SystemTime, UNIX_EPOCH};

use flovyn_sdk::Database;
use flovyn_sdk::db::sqlx;
use flovyn_sdk::events::EventMeta;
use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// `bench-events.ping`: published by `POST /publish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ping {
    /// Microseconds since the Unix epoch, taken just before the event was written and its
    /// transaction committed.
    pub published_us: i64,
}

/// Publishes pings and records when each was handled.
#[flovyn_plugin(name = "bench-events", events = [Ping])]
#[migration(1, "create_handled", file = "migrations/001_create_handled.sql")]
#[derive(Debug)]
pub struct BenchEvents {
    db: Database,
}

/// Microseconds since the Unix epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[plugin_impl]
impl BenchEvents {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            db: ctx.database()?.clone(),
        })
    }

    /// Publish one ping, stamped with the time just before its transaction commits.
    #[route(POST, "/publish", public, status = 204)]
    async fn publish(&self) -> Result<NoContent, ApiError> {
        let mut tx = self.db.begin().await.map_err(ApiError::internal)?;
        tx.publish(&Ping {
            published_us: now_us(),
        })
        .await?;
        tx.commit().await.map_err(ApiError::internal)?;
        Ok(NoContent)
    }

    #[subscribe]
    async fn on_ping(&self, e: Ping, meta: EventMeta) -> Result<(), PluginError> {
        let handled_us = now_us();
        sqlx::query(
            "INSERT INTO p_bench_events__handled (event_id, published_us, handled_us, pid, deliveries) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (event_id) DO UPDATE SET deliveries = p_bench_events__handled.deliveries + 1",
        )
        .bind(&meta.id)
        .bind(e.published_us)
        .bind(handled_us)
        .bind(i64::from(std::process::id()))
        .execute(&self.db)
        .await
        .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(())
    }
}
