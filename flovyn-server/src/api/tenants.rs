//! Tenants: the core `tenant` table and its admin endpoints under `/api/v1/tenants`.
//! Every tenant-scoped plugin table references `tenant(id)`; the default tenant exists from
//! the first start (created by the core migrations). Creating one publishes
//! `core.tenant-created`.

use axum::extract::{Path, State};
use flovyn_sdk::events::core::TenantCreated;
use flovyn_sdk::events::{EventSink as _, OutboxEvent};
use flovyn_sdk::host::naming::event::CORE;
use flovyn_sdk::{ApiError, Created, Identity, Json, PrincipalType};
use serde::{Deserialize, Serialize};

use crate::startup::AppState;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tenant {
    /// Stable id, `[a-z0-9-]`, 1–64 characters.
    #[schema(pattern = "^[a-z0-9-]{1,64}$")]
    pub id: String,
    /// Unique display name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
}

/// `POST /api/v1/tenants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Stable id, `[a-z0-9-]`, 1–64 characters; defaults to a random UUID.
    #[schema(pattern = "^[a-z0-9-]{1,64}$")]
    pub id: Option<String>,
    /// Unique display name, 1–200 characters with at least one that is not a space
    /// (surrounding spaces are trimmed).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
}

fn require_admin(who: &Identity) -> Result<(), ApiError> {
    if who.principal_type == PrincipalType::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("tenants are managed by the admin"))
    }
}

/// List the tenants.
///
/// Every tenant, oldest first. For the admin.
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    tag = "core",
    operation_id = "core.list_tenants",
    responses(
        (status = 200, description = "The tenants", body = Vec<Tenant>),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 403, description = "The caller is not the admin", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The database is unavailable (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    require_admin(&who)?;
    let tenants = sqlx::query_as::<_, Tenant>(
        "SELECT id, name, created_at FROM tenant ORDER BY created_at, id",
    )
    .fetch_all(state.db().pool())
    .await?;
    Ok(Json(tenants))
}

/// One tenant.
///
/// For the admin.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}",
    tag = "core",
    operation_id = "core.get_tenant",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 403, description = "The caller is not the admin", body = flovyn_sdk::ErrorBody),
        (status = 404, description = "No tenant with this id", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The database is unavailable (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    require_admin(&who)?;
    let tenant =
        sqlx::query_as::<_, Tenant>("SELECT id, name, created_at FROM tenant WHERE id = $1")
            .bind(&id)
            .fetch_optional(state.db().pool())
            .await?;
    tenant
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no tenant `{id}`")))
}

/// Create a tenant.
///
/// Publishes `core.tenant-created` with the tenant, in the same transaction. For the admin.
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    tag = "core",
    operation_id = "core.create_tenant",
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant", body = Tenant),
        (status = 400, description = "The request body is not valid JSON", body = flovyn_sdk::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = flovyn_sdk::ErrorBody),
        (status = 403, description = "The caller is not the admin", body = flovyn_sdk::ErrorBody),
        (status = 409, description = "A tenant with this id or name exists", body = flovyn_sdk::ErrorBody),
        (status = 413, description = "The request body is too large", body = flovyn_sdk::ErrorBody),
        (status = 415, description = "The request body is not `application/json`", body = flovyn_sdk::ErrorBody),
        (status = 422, description = "The request body does not match its schema (every violated constraint is named)", body = flovyn_sdk::ErrorBody),
        (status = 503, description = "The database is unavailable (retry after `Retry-After`)", body = flovyn_sdk::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    who: Identity,
    Json(new): Json<NewTenant>,
) -> Result<Created<Tenant>, ApiError> {
    require_admin(&who)?;
    // The id's pattern and the name's length are checked against the schema by `Json`.
    let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let name = new.name.trim().to_owned();
    let tenant = Tenant {
        id,
        name,
        created_at: flovyn_sdk::time::now_rfc3339(),
    };
    let created = TenantCreated {
        id: tenant.id.clone(),
        name: tenant.name.clone(),
        created_by: who.principal_id.clone(),
    };
    let event = OutboxEvent::new(CORE, &created)?;
    // The tenant and its event commit together.
    let mut tx = flovyn_sdk::db::begin(state.db().pool()).await?;
    let inserted = sqlx::query(
        "INSERT INTO tenant (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&tenant.id)
    .bind(&tenant.name)
    .bind(&tenant.created_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::conflict(format!(
            "a tenant with id `{}` or name `{}` already exists",
            tenant.id, tenant.name
        )));
    }
    let outbox = state.events().outbox();
    outbox.write_in(&mut tx, &event).await?;
    tx.commit().await?;
    outbox.committed();
    Ok(Created(Json(tenant)))
}
