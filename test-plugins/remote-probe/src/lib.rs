//! `remote-probe` — a plugin the server's tests run as a process, one piece per thing that
//! crosses the process boundary. Not an example to follow, and linked into no server.
//!
//! - `GET /wait?ms=…` answers after that many milliseconds (the host's deadline), `GET /now`
//!   at once;
//! - an authenticator for `prb_<name>` bearer tokens (`prb_down`: its store is down,
//!   `prb_bad`: invalid), and an authorizer that denies `remote_probe:write` to `mallory`;
//! - `POST /ticks` writes a row and counts them in one transaction, `GET /ticks` counts the
//!   rows of `source` (storage through the host);
//! - a task every 200 ms that writes a row with source `task`.

use flovyn_sdk::Database;
use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision};
use flovyn_sdk::db::sqlx;
use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// Each thing that crosses the process boundary, once.
#[flovyn_plugin(name = "remote-probe")]
#[migration(1, "create_ticks", file = "migrations/001_create_ticks.sql")]
#[derive(Debug)]
pub struct RemoteProbe {
    db: Database,
}

/// How long `GET /wait` waits.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Wait {
    /// Milliseconds.
    pub ms: u64,
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

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn failed(e: sqlx::Error) -> ApiError {
    ApiError::internal(e)
}

#[plugin_impl]
impl RemoteProbe {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            db: ctx.database()?.clone(),
        })
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

    /// Writes a row with source `task`.
    #[task(every = "200ms")]
    async fn tick(&self) -> Result<(), PluginError> {
        sqlx::query("INSERT INTO p_remote_probe__ticks (source, at_ms) VALUES ($1, $2)")
            .bind("task")
            .bind(now_ms())
            .execute(&self.db)
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(())
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
