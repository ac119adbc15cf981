//! `audit-log` — a trail of what happened, built only from events other plugins and the
//! server publish.
//!
//! - Subscribes to `worker-token.token-created`, `worker-token.token-revoked` and
//!   `core.tenant-created`, and stores each in `p_audit_log__events` with its name, who did
//!   it, in which tenant, to what, and the event itself as JSON.
//! - `GET /api/v1/p/audit-log/events` (permission `audit_log:read`, which the admin has):
//!   newest first, filtered by event, publisher, tenant, actor and time, a page at a time
//!   with an opaque cursor. A caller other than the admin sees its own tenant's events only.
//! - `[plugins.audit-log] retention_days` (default 90): how long events are kept; the
//!   `prune_expired` task deletes older ones every hour.
//!
//! The plugin needs no `depends_on`: the server subscribes every plugin before any starts,
//! and with worker-token disabled there are simply no token events to record.

use flovyn_sdk::Database;
use flovyn_sdk::db::sqlx::{self, Row as _};
use flovyn_sdk::events::core::TenantCreated;
use flovyn_sdk::events::{Event, EventMeta};
use flovyn_sdk::prelude::*;
use flovyn_sdk::time;
use serde::{Deserialize, Serialize};
use worker_token::{TokenCreated, TokenRevoked};

/// `[plugins.audit-log]`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLogConfig {
    /// Days an event is kept, at least 1 (0 would empty the trail at every run); older ones
    /// are deleted by the retention task.
    #[serde(default = "default_retention_days")]
    #[schema(default = 90, minimum = 1)]
    pub retention_days: u32,
}

impl Default for AuditLogConfig {
    fn default() -> Self {
        Self {
            retention_days: default_retention_days(),
        }
    }
}

fn default_retention_days() -> u32 {
    90
}

/// Records worker-token and tenant events for the admin to read.
#[flovyn_plugin(name = "audit-log", config = AuditLogConfig)]
#[migration(
    1,
    "create_events",
    postgres_file = "migrations/001_create_events.postgres.sql",
    sqlite_file = "migrations/001_create_events.sqlite.sql"
)]
#[migration(2, "event_ids", file = "migrations/002_event_ids.sql")]
#[derive(Debug)]
pub struct AuditLog {
    db: Database,
    config: AuditLogConfig,
}

/// One recorded event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Increasing id: later events have larger ids.
    pub id: i64,
    /// When it was recorded (RFC 3339, UTC).
    pub occurred_at: String,
    /// The event's name, e.g. `worker-token.token-created`.
    pub event: String,
    /// Who published it: a plugin name, or `core` for the server.
    pub publisher: String,
    /// The tenant it happened in, if any.
    pub tenant: Option<String>,
    /// The principal that caused it, if known.
    pub actor: Option<String>,
    /// What it happened to (a token id, a tenant id).
    pub subject: Option<String>,
    /// The event as published.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A page of events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /events`. Filters combine with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this event (`worker-token.token-created`).
    pub event: Option<String>,
    /// Only events this plugin (or `core`) published.
    pub publisher: Option<String>,
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only events this principal caused.
    pub actor: Option<String>,
    /// Only events at or after this instant (RFC 3339, e.g. `2026-01-31T08:00:00Z`).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only events before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Page size, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^e[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

const DEFAULT_LIMIT: u32 = 50;

/// One bound value of the events query.
enum Bind {
    Text(String),
    Int(i64),
}

#[plugin_impl]
impl AuditLog {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            db: ctx.database()?.clone(),
            config: ctx.config()?,
        })
    }

    /// List recorded events, newest first.
    ///
    /// Filters combine; pages are cut by `limit` and continued with `cursor`. The admin sees
    /// every tenant's events; anyone else with `audit_log:read` their own tenant's.
    #[route(GET, "/events", permission = "audit_log:read", errors = [400])]
    async fn list(
        &self,
        who: Identity,
        Query(query): Query<EventQuery>,
    ) -> Result<Json<EventPage>, ApiError> {
        // 1–500, checked against the parameter's schema by `Query`.
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        let mut sql = String::from(
            "SELECT id, occurred_at, event, publisher, tenant_id, actor, subject, payload FROM p_audit_log__events WHERE 1 = 1",
        );
        let mut binds: Vec<Bind> = Vec::new();
        let mut filter = |sql: &mut String, clause: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&format!(" AND {clause} ${}", binds.len()));
        };
        if let Some(event) = query.event {
            filter(&mut sql, "event =", Bind::Text(event));
        }
        if let Some(publisher) = query.publisher {
            filter(&mut sql, "publisher =", Bind::Text(publisher));
        }
        let tenant = if who.principal_type == PrincipalType::Admin {
            query.tenant
        } else {
            match (query.tenant, who.tenant.clone()) {
                (Some(asked), Some(own)) if asked != own => {
                    return Err(ApiError::forbidden(
                        "you can read your own tenant's events only",
                    ));
                }
                (_, own) => Some(own.unwrap_or_default()),
            }
        };
        if let Some(tenant) = tenant {
            filter(&mut sql, "tenant_id =", Bind::Text(tenant));
        }
        if let Some(actor) = query.actor {
            filter(&mut sql, "actor =", Bind::Text(actor));
        }
        if let Some(since) = query.since {
            filter(
                &mut sql,
                "occurred_at >=",
                Bind::Text(instant("since", &since)?),
            );
        }
        if let Some(until) = query.until {
            filter(
                &mut sql,
                "occurred_at <",
                Bind::Text(instant("until", &until)?),
            );
        }
        if let Some(cursor) = query.cursor {
            filter(&mut sql, "id <", Bind::Int(decode_cursor(&cursor)?));
        }
        // One more than the page, to know whether another page follows.
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));

        // Audited: `sql` is fixed text, `$n` placeholders and the checked integer `limit`;
        // every value the caller gave is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.db).await?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| encode_cursor(e.id))
        } else {
            None
        };
        Ok(Json(EventPage {
            events,
            next_cursor,
        }))
    }

    /// Deletes events older than `retention_days`, every hour (and once at first start).
    #[task(every = "1h")]
    async fn prune_expired(&self) -> Result<(), PluginError> {
        let deleted = self.prune().await?;
        if deleted > 0 {
            tracing::info!(
                deleted,
                retention_days = self.config.retention_days,
                "audit events pruned"
            );
        }
        Ok(())
    }

    #[subscribe]
    async fn on_token_created(&self, e: TokenCreated, meta: EventMeta) -> Result<(), PluginError> {
        let (tenant, actor, subject) = (e.tenant.clone(), e.created_by.clone(), e.id.clone());
        self.record(&e, &meta, Some(tenant), Some(actor), Some(subject))
            .await
    }

    #[subscribe]
    async fn on_token_revoked(&self, e: TokenRevoked, meta: EventMeta) -> Result<(), PluginError> {
        let (tenant, actor, subject) = (e.tenant.clone(), e.revoked_by.clone(), e.id.clone());
        self.record(&e, &meta, Some(tenant), Some(actor), Some(subject))
            .await
    }

    #[subscribe]
    async fn on_tenant_created(
        &self,
        e: TenantCreated,
        meta: EventMeta,
    ) -> Result<(), PluginError> {
        let (tenant, actor) = (e.id.clone(), e.created_by.clone());
        self.record(&e, &meta, Some(tenant.clone()), Some(actor), Some(tenant))
            .await
    }
}

impl AuditLog {
    /// Stores one event, once: a redelivery of the same event (its id) adds nothing.
    async fn record<E: Event>(
        &self,
        event: &E,
        meta: &EventMeta,
        tenant: Option<String>,
        actor: Option<String>,
        subject: Option<String>,
    ) -> Result<(), PluginError> {
        let payload = serde_json::to_string(event).map_err(|e| PluginError::new(e.to_string()))?;
        let publisher = flovyn_sdk::host::naming::event::publisher(E::NAME).unwrap_or_default();
        sqlx::query(
            "INSERT INTO p_audit_log__events (occurred_at, event, publisher, tenant_id, actor, subject, payload, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&meta.published_at)
        .bind(E::NAME)
        .bind(publisher)
        .bind(tenant)
        .bind(actor)
        .bind(subject)
        .bind(payload)
        .bind(&meta.id)
        .execute(&self.db)
        .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(())
    }

    /// Deletes events older than `retention_days`; returns how many.
    pub async fn prune(&self) -> Result<u64, PluginError> {
        let keep = std::time::Duration::from_secs(u64::from(self.config.retention_days) * 86_400);
        let cutoff = time::at(std::time::SystemTime::now() - keep);
        let deleted = sqlx::query("DELETE FROM p_audit_log__events WHERE occurred_at < $1")
            .bind(cutoff)
            .execute(&self.db)
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(deleted.rows_affected())
    }
}

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let payload: String = row.try_get("payload")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        event: row.try_get("event")?,
        publisher: row.try_get("publisher")?,
        tenant: row.try_get("tenant_id")?,
        actor: row.try_get("actor")?,
        subject: row.try_get("subject")?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(e.into()))?,
    })
}

/// The stored form (UTC, milliseconds) of a `since`/`until` instant: any RFC 3339 date-time,
/// as the spec's `format: date-time` says.
fn instant(key: &str, text: &str) -> Result<String, ApiError> {
    time::parse_rfc3339(text).map(time::at).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{key}` must be an RFC 3339 date-time such as `2026-01-31T08:00:00Z`, got `{text}`"
        ))
    })
}

/// Cursors are opaque to callers: `e` + the last id seen.
fn encode_cursor(id: i64) -> String {
    format!("e{id}")
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    cursor
        .strip_prefix('e')
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`cursor` `{cursor}` is not one this endpoint gave: pass a page's `next_cursor`"
            ))
        })
}
