//! `worker-token` — worker authentication as a plugin, the reference example of a plugin
//! that extends the server's auth stack.
//!
//! - Table `p_worker_token__tokens` (tenant foreign key to the core `tenant` table); the
//!   secret is never stored, only its SHA-256, found through the token's non-secret lookup
//!   part ([`token`] describes the format: `fwt_<lookup>_<secret>_<checksum>`).
//! - Routes under `/api/v1/p/worker-token/`: `POST /tokens` (the secret is shown once),
//!   `GET /tokens` (never secrets), `DELETE /tokens/{id}` (revoke), guarded by the
//!   `worker_token:create` / `:read` / `:revoke` permissions, which the admin has and a
//!   worker has only when its token grants them.
//! - A gRPC service, `flovyn.plugins.worker_token.v1.WorkerTokens` ([`grpc`]), for workers
//!   on the server's port (`proto/` holds its definition).
//! - Events `worker-token.token-created` and `worker-token.token-revoked` ([`TokenCreated`],
//!   [`TokenRevoked`]) for other plugins (the audit log records them).
//! - An authenticator recognising `Authorization: Bearer fwt_…`, yielding a `worker`
//!   identity in the token's tenant holding the permissions the token was created with (no
//!   wider than its creator's). Malformed tokens and bad checksums are refused without
//!   a database query; a warm token is served from a cache ([`cache`]).

pub mod cache;
pub mod grpc;
pub mod token;

use std::sync::Arc;

use flovyn_sdk::auth::{AuthOutcome, AuthRequest, Authz, AuthzRequest};
use flovyn_sdk::db::sqlx::{self, Row as _};
use flovyn_sdk::prelude::*;
use flovyn_sdk::{Database, time};
use serde::{Deserialize, Serialize};

use crate::cache::{Cached, CachedToken, Lookup, TokenCache};

/// Issues and verifies worker tokens.
#[flovyn_plugin(name = "worker-token", events = [TokenCreated, TokenRevoked])]
#[migration(1, "create_tokens", file = "migrations/001_create_tokens.sql")]
#[migration(2, "token_permissions", file = "migrations/002_token_permissions.sql")]
#[derive(Debug)]
pub struct WorkerToken {
    db: Database,
    cache: Arc<TokenCache>,
}

/// `worker-token.token-created`: a worker token was created (never carries the secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCreated {
    /// Token id.
    pub id: String,
    /// Tenant the worker acts in.
    pub tenant: String,
    /// Display name.
    pub display_name: String,
    /// The principal that created it.
    pub created_by: String,
    /// When it expires, if ever (RFC 3339).
    pub expires_at: Option<String>,
}

/// `worker-token.token-revoked`: a worker token was revoked (published once per token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRevoked {
    /// Token id.
    pub id: String,
    /// Tenant the worker acted in.
    pub tenant: String,
    /// The principal that revoked it.
    pub revoked_by: String,
}

/// `POST /tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A name to recognise the token by (e.g. the worker's host name): 1–200 characters, at
    /// least one of them not a space; surrounding spaces are trimmed.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub display_name: String,
    /// Free text.
    pub description: Option<String>,
    /// Days until the token expires, 1–36500 (100 years: the expiry stays a four-digit-year
    /// RFC 3339 instant); it never expires when absent.
    #[schema(minimum = 1, maximum = 36500)]
    pub expires_in_days: Option<u32>,
    /// The tenant the worker acts in; defaults to the caller's tenant, else `default`.
    pub tenant: Option<String>,
    /// The permissions the token grants its worker (e.g. `["hello:read"]`); none when
    /// absent. The creator must hold each one: a token is never wider than its creator.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub permissions: Vec<Permission>,
}

/// A permission a token grants: `*` (every one), or lowercase letters, digits, `_`, `-`, `.`
/// and `:` (`hello:read`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission(pub String);

/// The published form is the one enforced (the body is checked against it): the pattern is
/// `flovyn_naming`'s permission rule, or `*`.
impl flovyn_sdk::prelude::utoipa::PartialSchema for Permission {
    fn schema() -> flovyn_sdk::prelude::utoipa::openapi::RefOr<
        flovyn_sdk::prelude::utoipa::openapi::schema::Schema,
    > {
        use flovyn_sdk::prelude::utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^(\*|[a-z0-9_.:-]+)$"))
            .description(Some(
                "A permission: `*`, or lowercase letters, digits, `_`, `-`, `.` and `:` (`hello:read`).",
            ))
            .into()
    }
}

impl ToSchema for Permission {}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Token id (used to revoke it).
    pub id: String,
    /// Tenant the worker acts in.
    pub tenant: String,
    /// The non-secret lookup part of the token, to tell tokens apart.
    pub lookup: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When it expires, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<String>,
    /// The permissions it grants its worker.
    pub permissions: Vec<String>,
}

/// `POST /tokens` response: the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The secret token, `fwt_…`. Store it now: it cannot be shown again.
    pub token: String,
    // The token as listed, its fields beside `token`. No doc comment: it would become a
    // `description` beside the `$ref` in the schema's `allOf`, which Swagger UI then shows
    // as "(any & object)".
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// The listed columns (a macro, so that queries stay string literals).
macro_rules! columns {
    () => {
        "id, tenant_id, lookup, display_name, description, created_by, created_at, expires_at, revoked_at, last_used_at, permissions"
    };
}

fn info_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo, sqlx::Error> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant_id")?,
        lookup: row.try_get("lookup")?,
        display_name: row.try_get("display_name")?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        permissions: permission_list(&row.try_get::<String, _>("permissions")?),
    })
}

/// The stored form of a token's permissions: space-separated.
fn permission_list(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

#[plugin_impl]
impl WorkerToken {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(WorkerToken {
            db: ctx.database()?.clone(),
            cache: Arc::new(TokenCache::default()),
        })
    }

    /// Create a worker token.
    ///
    /// The response carries the secret token; it is shown only this once.
    #[route(POST, "/tokens", permission = "worker_token:create", errors = [404])]
    async fn create(
        &self,
        who: Identity,
        Json(new): Json<NewToken>,
    ) -> Result<Created<CreatedToken>, ApiError> {
        // Lengths and the expiry's range are checked against the schema by `Json`.
        let display_name = new.display_name.trim().to_owned();
        let tenant = new
            .tenant
            .or(who.tenant.clone())
            .unwrap_or_else(|| "default".to_owned());
        if who.tenant.as_ref().is_some_and(|t| *t != tenant)
            && who.principal_type != PrincipalType::Admin
        {
            return Err(ApiError::forbidden(
                "tokens can only be created in your own tenant",
            ));
        }
        let mut permissions: Vec<String> = Vec::new();
        // Each permission's form is checked against the schema by `Json`.
        for Permission(permission) in &new.permissions {
            if !who.has_permission(permission) {
                return Err(ApiError::forbidden(format!(
                    "you cannot grant `{permission}`: a token grants only permissions its creator holds"
                )));
            }
            if !permissions.contains(permission) {
                permissions.push(permission.clone());
            }
        }
        let exists = sqlx::query("SELECT id FROM tenant WHERE id = $1")
            .bind(&tenant)
            .fetch_optional(&self.db)
            .await?;
        if exists.is_none() {
            return Err(ApiError::not_found(format!("no tenant `{tenant}`")));
        }
        let issued = token::issue();
        let info = TokenInfo {
            id: uuid::Uuid::new_v4().to_string(),
            tenant,
            lookup: issued.lookup.clone(),
            display_name,
            description: new.description,
            created_by: who.principal_id.clone(),
            created_at: time::now_rfc3339(),
            expires_at: new
                .expires_in_days
                .map(|d| time::from_now(std::time::Duration::from_secs(u64::from(d) * 86_400))),
            revoked_at: None,
            last_used_at: None,
            permissions,
        };
        // The token and its event commit together: the audit trail cannot miss it.
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO p_worker_token__tokens (id, tenant_id, lookup, token_hash, display_name, description, created_by, created_at, expires_at, permissions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&info.id)
        .bind(&info.tenant)
        .bind(&info.lookup)
        .bind(&issued.hash)
        .bind(&info.display_name)
        .bind(&info.description)
        .bind(&info.created_by)
        .bind(&info.created_at)
        .bind(&info.expires_at)
        .bind(info.permissions.join(" "))
        .execute(&mut tx)
        .await
        ?;
        tx.publish(&TokenCreated {
            id: info.id.clone(),
            tenant: info.tenant.clone(),
            display_name: info.display_name.clone(),
            created_by: info.created_by.clone(),
            expires_at: info.expires_at.clone(),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(token = %info.id, tenant = %info.tenant, by = %who.principal_id, "worker token created");
        Ok(Created(Json(CreatedToken {
            token: issued.token,
            info,
        })))
    }

    /// List worker tokens (never their secrets).
    ///
    /// The admin sees every tenant's tokens; anyone else their own tenant's.
    #[route(GET, "/tokens", permission = "worker_token:read")]
    async fn list(&self, who: Identity) -> Result<Json<Vec<TokenInfo>>, ApiError> {
        let rows = if who.principal_type == PrincipalType::Admin {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM p_worker_token__tokens ORDER BY created_at, id"
            ))
            .fetch_all(&self.db)
            .await
        } else {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM p_worker_token__tokens WHERE tenant_id = $1 ORDER BY created_at, id"
            ))
            .bind(who.tenant.clone().unwrap_or_default())
            .fetch_all(&self.db)
            .await
        }?;
        let tokens = rows
            .iter()
            .map(info_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Json(tokens))
    }

    /// Revoke a worker token.
    ///
    /// The token stops authenticating at once on this server and within a second on every
    /// other replica. Revoking a revoked token is a no-op.
    #[route(DELETE, "/tokens/{id}", permission = "worker_token:revoke", errors = [404])]
    async fn revoke(
        &self,
        who: Identity,
        authz: Authz,
        Path(id): Path<String>,
    ) -> Result<NoContent, ApiError> {
        let row = sqlx::query("SELECT lookup, tenant_id FROM p_worker_token__tokens WHERE id = $1")
            .bind(&id)
            .fetch_optional(&self.db)
            .await?;
        let Some(row) = row else {
            return Err(ApiError::not_found(format!("no worker token `{id}`")));
        };
        let lookup: String = row.try_get("lookup")?;
        let tenant: String = row.try_get("tenant_id")?;
        if who.principal_type != PrincipalType::Admin
            && who.tenant.as_deref() != Some(tenant.as_str())
        {
            return Err(ApiError::not_found(format!("no worker token `{id}`")));
        }
        // The route's permission was checked for the plugin as a whole; ask again for this
        // token's tenant, so that an authorizer plugin can restrict revocation per tenant.
        let request = AuthzRequest {
            resource: "worker-token",
            action: "worker_token:revoke",
            tenant: Some(&tenant),
        };
        authz.require(&who, &request).await?;
        // The revocation and its event commit together.
        let mut tx = self.db.begin().await?;
        let revoked = sqlx::query("UPDATE p_worker_token__tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(time::now_rfc3339())
            .bind(&id)
            .execute(&mut tx)
            .await
            ?;
        if revoked.rows_affected() == 1 {
            tx.publish(&TokenRevoked {
                id: id.clone(),
                tenant,
                revoked_by: who.principal_id.clone(),
            })
            .await?;
        }
        tx.commit().await?;
        self.cache.forget(&lookup);
        if revoked.rows_affected() == 1 {
            tracing::info!(token = %id, by = %who.principal_id, "worker token revoked");
        }
        Ok(NoContent)
    }

    /// The worker-facing gRPC API.
    #[grpc_service]
    fn worker_tokens(&self) -> grpc::WorkerTokensServer<grpc::WorkerTokensApi> {
        grpc::WorkerTokensServer::new(grpc::WorkerTokensApi)
    }

    /// Worker tokens: `Authorization: Bearer fwt_…`.
    #[authenticator(scheme = "worker_token", bearer_format = "fwt_…")]
    async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        let Some(presented) = request.bearer_token() else {
            return AuthOutcome::NotMine;
        };
        let parsed = match token::parse(presented) {
            Ok(parsed) => parsed,
            Err(token::TokenError::NotOurs) => return AuthOutcome::NotMine,
            // Malformed or a bad checksum: refused without touching the database.
            Err(_) => return AuthOutcome::Invalid,
        };
        let Lookup { cached, touch_due } = self.cache.get(parsed.lookup);
        let cached = match cached {
            Cached::Fresh(token) => token,
            Cached::Stale { token, refresh } => {
                if refresh {
                    self.refresh_in_background(parsed.lookup);
                }
                token
            }
            Cached::Missing => match load(&self.db, parsed.lookup).await {
                Ok(Some(token)) => self.cache.put(parsed.lookup, token),
                Ok(None) => return AuthOutcome::Invalid,
                Err(e) => return AuthOutcome::Unavailable(format!("worker token store: {e}")),
            },
        };
        if !cached.accepts(presented) {
            return AuthOutcome::Invalid;
        }
        if touch_due && self.cache.mark_touched(parsed.lookup) {
            let (db, id) = (self.db.clone(), cached.id().to_owned());
            // Best effort and off the request path: a lost update only delays `last_used_at`.
            tokio::spawn(async move {
                let result = sqlx::query(
                    "UPDATE p_worker_token__tokens SET last_used_at = $1 WHERE id = $2",
                )
                .bind(time::now_rfc3339())
                .bind(&id)
                .execute(&db)
                .await;
                if let Err(e) = result {
                    tracing::warn!(token = %id, error = %e, "could not record last use of a worker token");
                }
            });
        }
        AuthOutcome::Authenticated(cached.identity())
    }
}

impl WorkerToken {
    /// Re-reads `lookup`'s row off the request path (the cache found it stale).
    fn refresh_in_background(&self, lookup: &str) {
        let (db, cache, lookup) = (self.db.clone(), self.cache.clone(), lookup.to_owned());
        tokio::spawn(async move {
            match load(&db, &lookup).await {
                Ok(Some(token)) => {
                    cache.put(&lookup, token);
                }
                Ok(None) => cache.forget(&lookup),
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-read a worker token");
                    cache.refresh_failed(&lookup);
                }
            }
        });
    }
}

/// The token's row, by its lookup part.
async fn load(db: &Database, lookup: &str) -> Result<Option<CachedToken>, sqlx::Error> {
    cache::LOOKUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let row = sqlx::query(
        "SELECT id, tenant_id, token_hash, expires_at, revoked_at, permissions FROM p_worker_token__tokens WHERE lookup = $1",
    )
    .bind(lookup)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        let hash: String = row.try_get("token_hash")?;
        let expires_at: Option<String> = row.try_get("expires_at")?;
        Ok(CachedToken::new(
            row.try_get("id")?,
            row.try_get("tenant_id")?,
            &hash,
            expires_at.as_deref(),
            row.try_get::<Option<String>, _>("revoked_at")?.is_some(),
            permission_list(&row.try_get::<String, _>("permissions")?),
        ))
    })
    .transpose()
}
