//! Operator endpoints: `GET /_/health` (public), `GET /_/plugins` and the replay of a
//! dead-lettered event (admin).

use axum::Json;
use axum::extract::State;
use flovyn_sdk::{ApiError, Identity, PrincipalType};
use serde::Serialize;

use crate::startup::AppState;
use crate::store::migrate::{self, AppliedMigration};

/// `GET /_/health` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    /// Running plugins, in start order.
    pub plugins: Vec<PluginVersion>,
}

/// A plugin's name and version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginVersion {
    /// Name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
}

/// Liveness.
///
/// 200 whenever the server answers, with its version and running plugins. Readiness (the
/// database) is `/_/ready`.
#[utoipa::path(
    get,
    path = "/_/health",
    tag = "core",
    operation_id = "core.health",
    responses((status = 200, description = "The server is alive", body = Health)),
    security(()),
)]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        plugins: state
            .plugins()
            .iter()
            .map(|p| PluginVersion {
                name: &p.descriptor.name,
                version: &p.descriptor.version,
            })
            .collect(),
    })
}

/// `GET /_/ready`'s answer while the server can serve.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
}

/// Readiness.
///
/// 200 while the database answers a query within 2 s, otherwise 503 `not_ready` with
/// `Retry-After`: take the replica out of rotation, do not restart it (`/_/health` is
/// liveness).
#[utoipa::path(
    get,
    path = "/_/ready",
    tag = "core",
    operation_id = "core.ready",
    responses(
        (status = 200, description = "The server can serve", body = Ready),
        (status = 503, description = "The database cannot be reached", body = flovyn_sdk::ErrorBody),
    ),
    security(()),
)]
pub async fn ready(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let probe = sqlx::query("SELECT 1").execute(state.db().pool());
    let reason = match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => return Json(Ready { status: "ready" }).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    tracing::warn!(reason = %reason, "not ready: the database cannot be reached");
    flovyn_sdk::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "the database cannot be reached",
    )
    .retry_after(1)
    .into_response()
}

/// One plugin in `GET /_/plugins`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    name: &'static str,
    version: &'static str,
    description: &'static str,
    dependencies: &'static [String],
    /// `running` or `disabled`; a plugin process may also be `restarting`, `failed` or
    /// `stopped`.
    state: &'static str,
    /// For a plugin process: restarts so far and how its process last ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<ProcessInfo>,
    routes: Vec<RouteInfo>,
    migrations: Vec<MigrationInfo>,
    /// Events the plugin publishes.
    events: &'static [String],
    /// Events it handles, each with its handler.
    subscriptions: Vec<SubscriptionInfo>,
    /// For a subscribing plugin: its backlog, the failures of its next event, and its dead
    /// letters.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<crate::events::DeliveryStatus>,
    /// Its periodic tasks: interval, next run, last run.
    tasks: Vec<crate::scheduler::TaskStatus>,
    /// Its middleware, with priority and the paths it sees.
    middleware: Vec<MiddlewareInfo>,
    /// Its gRPC services: full name and who may call them.
    grpc_services: Vec<GrpcInfo>,
}

/// A plugin process: its pid while it runs, restarts so far, how it last ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProcessInfo {
    pid: Option<u32>,
    restarts: u32,
    last_exit: Option<String>,
    /// How requests reach it: `frames` (its second socket) or `grpc` (`Plugin.Handle`).
    handle: Option<&'static str>,
}

/// A gRPC service of the plugin and who may call it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GrpcInfo {
    service: &'static str,
    access: String,
}

/// `public`, `authenticated` or `permission:<p>`, as routes and services are listed.
fn access_label(access: &flovyn_sdk::descriptor::Access) -> String {
    use flovyn_sdk::descriptor::Access;
    match access {
        Access::Public => "public".to_owned(),
        Access::Authenticated => "authenticated".to_owned(),
        Access::Permission(perm) => format!("permission:{perm}"),
    }
}

/// A middleware of the plugin: its priority and the paths it sees.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MiddlewareInfo {
    name: &'static str,
    priority: i32,
    paths: Vec<String>,
}

/// An event the plugin handles, and its handler.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SubscriptionInfo {
    event: &'static str,
    handler: &'static str,
}

/// A route of the plugin: method, full path, and who may call it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RouteInfo {
    method: &'static str,
    path: String,
    access: String,
}

/// A migration of the plugin and when it was applied.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MigrationInfo {
    version: u32,
    name: &'static str,
    checksum: String,
    /// `null` when not applied (a disabled plugin, or not yet migrated).
    applied_at: Option<String>,
}

/// Replay a dead-lettered event.
///
/// Delivers the event to the plugin again, ahead of its next events. For the admin.
#[utoipa::path(
    post,
    path = "/_/plugins/{plugin}/dead-letters/{event_id}/replay",
    tag = "core",
    operation_id = "core.replay_dead_letter",
    params(
        ("plugin" = String, Path, description = "The subscribing plugin"),
        ("event_id" = String, Path, description = "The dead-lettered event's id"),
    ),
    responses(
        (status = 202, description = "The replay is queued"),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 403, description = "The caller is not the admin", body = flovyn_sdk::ErrorBody),
        (status = 404, description = "The plugin has no such dead letter", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The database is unavailable (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn replay(
    State(state): State<AppState>,
    who: Identity,
    axum::extract::Path((plugin, event_id)): axum::extract::Path<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    if who.principal_type != PrincipalType::Admin {
        return Err(ApiError::forbidden("this endpoint is for the admin"));
    }
    if crate::events::request_replay(state.db().pool(), &plugin, &event_id)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(axum::http::StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found(format!(
            "plugin `{plugin}` has no dead-lettered event `{event_id}`"
        )))
    }
}

/// The plugins.
///
/// Every plugin, running or disabled: version, routes, migrations and when they were
/// applied, events, subscriptions and their delivery, tasks, middleware, gRPC services, and
/// for a plugin process its state. For the admin.
#[utoipa::path(
    get,
    path = "/_/plugins",
    tag = "core",
    operation_id = "core.plugins",
    responses(
        (status = 200, description = "The plugins, by name", body = Vec<PluginInfo>),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 403, description = "The caller is not the admin", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The database is unavailable (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn plugins(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<PluginInfo>>, ApiError> {
    if who.principal_type != PrincipalType::Admin {
        return Err(ApiError::forbidden("this endpoint is for the admin"));
    }
    let applied: Vec<AppliedMigration> = migrate::applied(state.db())
        .await
        .map_err(ApiError::internal)?;
    let dialect = state.db().dialect();
    let plan = state.plan();
    let mut all: Vec<(&'static flovyn_sdk::PluginDescriptor, &'static str)> = plan
        .enabled
        .iter()
        .map(|p| (*p, "running"))
        .chain(plan.disabled.iter().map(|p| (*p, "disabled")))
        .collect();
    all.sort_by_key(|(p, _)| p.name.as_str());
    let mut tasks = Vec::with_capacity(all.len());
    let mut deliveries = Vec::with_capacity(all.len());
    for (p, _) in &all {
        tasks.push(
            crate::scheduler::status(state.db(), &p.name, &p.tasks)
                .await
                .map_err(ApiError::internal)?,
        );
        let subscribed: Vec<String> = p.subscriptions.iter().map(|s| s.event.clone()).collect();
        deliveries.push(
            crate::events::status(state.db().pool(), &p.name, &subscribed)
                .await
                .map_err(ApiError::internal)?,
        );
    }
    let body = all
        .into_iter()
        .zip(tasks)
        .zip(deliveries)
        .map(|(((p, run_state), tasks), delivery)| {
            let status = state
                .plugins()
                .iter()
                .find(|r| r.descriptor.name == p.name)
                .and_then(|r| r.backend.status());
            (p, run_state, tasks, status, delivery)
        })
        .map(|(p, run_state, tasks, status, delivery)| PluginInfo {
            delivery,
            name: &p.name,
            version: &p.version,
            description: &p.description,
            dependencies: &p.depends_on,
            state: status.as_ref().map_or(run_state, |s| s.state.as_str()),
            process: status.map(|s| ProcessInfo {
                pid: s.pid,
                restarts: s.restarts,
                last_exit: s.last_exit,
                handle: s.handle,
            }),
            routes: p
                .routes
                .iter()
                .map(|r| RouteInfo {
                    method: r.method.as_str(),
                    path: p.served_path(&r.path),
                    access: access_label(&r.access),
                })
                .collect(),
            migrations: p
                .migrations
                .iter()
                .map(|m| {
                    let row = applied
                        .iter()
                        .find(|a| a.plugin == p.name && a.version == m.version);
                    MigrationInfo {
                        version: m.version,
                        name: &m.name,
                        checksum: row
                            .map(|r| r.checksum.clone())
                            .unwrap_or_else(|| m.checksum(dialect)),
                        applied_at: row.map(|r| r.applied_at.clone()),
                    }
                })
                .collect(),
            events: &p.events,
            subscriptions: p
                .subscriptions
                .iter()
                .map(|s| SubscriptionInfo {
                    event: &s.event,
                    handler: &s.handler,
                })
                .collect(),
            tasks,
            middleware: p
                .middleware
                .iter()
                .map(|m| MiddlewareInfo {
                    name: &m.name,
                    priority: m.priority,
                    paths: if m.paths.is_empty() {
                        vec![format!("{}/*", p.route_prefix())]
                    } else {
                        m.paths.clone()
                    },
                })
                .collect(),
            grpc_services: p
                .grpc_services
                .iter()
                .map(|g| GrpcInfo {
                    service: &g.service,
                    access: access_label(&g.access),
                })
                .collect(),
        })
        .collect();
    Ok(Json(body))
}
