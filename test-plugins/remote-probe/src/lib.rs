//! `remote-probe` — a plugin the server's tests run as a process, one piece per thing that
//! crosses the process boundary. Not an example to follow, and linked into no server.
//!
//! - `GET /wait?ms=…` answers after that many milliseconds (the host's deadline), `GET /now`
//!   at once;
//! - `GET /stream` sends one server-sent event and never ends; `GET /big?mb=…` answers that
//!   many MiB (streamed responses);
//! - an authenticator for `prb_<name>` bearer tokens (`prb_down`: its store is down,
//!   `prb_bad`: invalid), and an authorizer that denies `remote_probe:write` to `mallory`;
//! - `POST /ticks` writes a row and counts them in one transaction, `GET /ticks` counts the
//!   rows of `source` (storage through the host);
//! - a task every 200 ms that writes a row with source `task`;
//! - `POST /ticks` also publishes `remote-probe.probed` in its transaction; the plugin handles
//!   its own `Probed` (a row with source `probed`) and `core.tenant-created` (source `tenant`);
//! - two middleware, applied in its process: `stamp` on all its routes, `ticks_only` (inside
//!   it) on `/ticks`; each adds its name to `x-remote-probe-middleware` on the way out.

use flovyn_sdk::Database;
use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision};
use flovyn_sdk::db::sqlx;
use flovyn_sdk::events::EventMeta;
use flovyn_sdk::events::core::TenantCreated;
use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// Each thing that crosses the process boundary, once.
#[flovyn_plugin(name = "remote-probe", events = [Probed])]
#[migration(1, "create_ticks", file = "migrations/001_create_ticks.sql")]
#[derive(Debug)]
pub struct RemoteProbe {
    db: Database,
}

/// `remote-probe.probed`: `POST /ticks` wrote its row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probed {
    /// How many `api` rows there were then.
    pub count: i64,
}

/// How long `GET /wait` waits.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Wait {
    /// Milliseconds.
    pub ms: u64,
}

/// How large `GET /big`'s answer is.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Size {
    /// MiB.
    pub mb: usize,
}

/// What the waiting routes answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Waited {
    /// The milliseconds waited.
    pub ms: u64,
}

/// Which rows `GET /ticks` counts.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Source {
    /// `api` (written by `POST /ticks`) or `task`.
    pub source: String,
}

/// A number of rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticks {
    /// How many.
    pub count: i64,
}

/// A middleware that appends `name` to the response's `x-remote-probe-middleware`.
fn mark(name: &'static str) -> flovyn_sdk::middleware::Middleware {
    use flovyn_sdk::middleware::{Middleware, Next, Request};
    Middleware::from_fn(move |request: Request, next: Next| async move {
        let caller = request
            .extensions()
            .get::<Identity>()
            .map(|who| who.principal_id.clone());
        let mut response = next.run(request).await;
        let headers = response.headers_mut();
        let marks = match headers.get("x-remote-probe-middleware") {
            Some(inner) => format!("{},{name}", inner.to_str().unwrap_or_default()),
            None => name.to_owned(),
        };
        if let Ok(value) = marks.parse() {
            headers.insert("x-remote-probe-middleware", value);
        }
        if let Some(value) = caller.and_then(|c| c.parse().ok()) {
            headers.insert("x-remote-probe-caller", value);
        }
        response
    })
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl RemoteProbe {
    async fn row(&self, source: &str) -> Result<(), PluginError> {
        sqlx::query("INSERT INTO p_remote_probe__ticks (source, at_ms) VALUES ($1, $2)")
            .bind(source)
            .bind(now_ms())
            .execute(&self.db)
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(())
    }
}

fn failed(e: sqlx::Error) -> ApiError {
    ApiError::internal(e)
}

#[plugin_impl]
impl RemoteProbe {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        // Out of process, this reaches the server's log at its level, with the plugin's name.
        tracing::info!(answers = "stream, big, wait", "remote-probe is ready");
        Ok(Self {
            db: ctx.database()?.clone(),
        })
    }

    /// Names itself in the response's `x-remote-probe-middleware`, and the caller in
    /// `x-remote-probe-caller`.
    #[middleware]
    fn stamp(&self) -> flovyn_sdk::middleware::Middleware {
        mark("stamp")
    }

    /// Only on `/ticks`, inside `stamp`.
    #[middleware(priority = 200, paths = ["/api/v1/p/remote-probe/ticks"])]
    fn ticks_only(&self) -> flovyn_sdk::middleware::Middleware {
        mark("ticks_only")
    }

    /// One server-sent event at once, then nothing, for as long as the client stays.
    #[route(GET, "/stream", public)]
    async fn stream(&self) -> impl axum::response::IntoResponse {
        let first = futures_util::stream::once(async {
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(b"data: ready\n\n"))
        });
        let body = axum::body::Body::from_stream(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ));
        (
            [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
            body,
        )
    }

    /// `mb` MiB of `0123456789` repeated.
    #[route(GET, "/big", public)]
    async fn big(&self, Query(size): Query<Size>) -> String {
        "0123456789"
            .chars()
            .cycle()
            .take(size.mb * 1024 * 1024)
            .collect()
    }

    /// Answers after `ms` milliseconds.
    #[route(GET, "/wait", public)]
    async fn wait(&self, Query(wait): Query<Wait>) -> Json<Waited> {
        tokio::time::sleep(std::time::Duration::from_millis(wait.ms)).await;
        Json(Waited { ms: wait.ms })
    }

    /// Answers at once.
    #[route(GET, "/now", public)]
    async fn now(&self) -> Json<Waited> {
        Json(Waited { ms: 0 })
    }

    /// Panics (a bug in a handler): the client gets 500, as from a linked plugin.
    #[route(GET, "/panic", public)]
    async fn panics(&self) -> Json<Waited> {
        panic!("remote-probe's handler panicked on purpose")
    }

    /// The `authorization` header as the plugin received it (`none`: the host kept it).
    #[route(GET, "/credentials", permission = "remote_probe:read")]
    async fn credentials(&self, headers: axum::http::HeaderMap) -> String {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned()
    }

    /// The caller's principal id.
    #[route(GET, "/whoami", permission = "remote_probe:read")]
    async fn whoami(&self, who: Identity) -> String {
        who.principal_id
    }

    /// Writes a row and returns how many `api` rows there are, in one transaction.
    #[route(POST, "/ticks", permission = "remote_probe:write")]
    async fn tick_now(&self) -> Result<Json<Ticks>, ApiError> {
        let mut tx = self.db.begin().await.map_err(failed)?;
        sqlx::query("INSERT INTO p_remote_probe__ticks (source, at_ms) VALUES ($1, $2)")
            .bind("api")
            .bind(now_ms())
            .execute(&mut tx)
            .await
            .map_err(failed)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM p_remote_probe__ticks WHERE source = $1")
                .bind("api")
                .fetch_one(&mut tx)
                .await
                .map_err(failed)?;
        tx.publish(&Probed { count }).await?;
        tx.commit().await.map_err(failed)?;
        Ok(Json(Ticks { count }))
    }

    /// How many rows `source` wrote.
    #[route(GET, "/ticks", public)]
    async fn ticks(&self, Query(source): Query<Source>) -> Result<Json<Ticks>, ApiError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM p_remote_probe__ticks WHERE source = $1")
                .bind(source.source)
                .fetch_one(&self.db)
                .await
                .map_err(failed)?;
        Ok(Json(Ticks { count }))
    }

    /// Writes a row with source `stop`: the stop hook runs in the process, and the host's
    /// storage still answers then.
    #[on_stop]
    async fn stopping(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        self.row("stop").await
    }

    /// Writes a row with source `task`.
    #[task(every = "200ms")]
    async fn tick(&self) -> Result<(), PluginError> {
        self.row("task").await
    }

    /// Writes a row with source `probed`.
    #[subscribe]
    async fn on_probed(&self, _event: Probed) -> Result<(), PluginError> {
        self.row("probed").await
    }

    /// Writes a row with source `tenant`.
    #[subscribe]
    async fn on_tenant(&self, _event: TenantCreated, meta: EventMeta) -> Result<(), PluginError> {
        if meta.publisher != "core" {
            return Err(PluginError::new("a tenant event not from the server"));
        }
        self.row("tenant").await
    }

    /// `prb_<name>` tokens.
    #[authenticator(scheme = "probe_token", bearer_format = "prb_…")]
    async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        match request.bearer_token().and_then(|t| t.strip_prefix("prb_")) {
            None => AuthOutcome::NotMine,
            Some("down") => AuthOutcome::Unavailable("the probe's token store is down".into()),
            Some("bad") => AuthOutcome::Invalid,
            Some(name) => AuthOutcome::Authenticated(Identity {
                principal_id: name.to_owned(),
                principal_type: PrincipalType::Worker,
                tenant: Some("default".into()),
                roles: vec![],
                permissions: vec!["remote_probe:read".into(), "remote_probe:write".into()],
            }),
        }
    }

    /// `mallory` may not write.
    #[authorizer]
    async fn authorize(&self, who: &Identity, request: &AuthzRequest<'_>) -> Decision {
        if who.principal_id == "mallory" && request.action == "remote_probe:write" {
            Decision::Deny
        } else {
            Decision::Abstain
        }
    }
}
