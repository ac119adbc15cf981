//! `bench-db` — a bench-only plugin for `bench/run.sh load`: `GET /api/v1/p/bench-db/items/{id}`
//! reads one row of the plugin's own table through the SDK's database handle and answers it
//! as JSON (`{"id":7,"name":"item 7"}`). It is the smallest thing a real plugin route does;
//! the baseline (`axum-baseline`) runs the same query, through the same driver, on a
//! database prepared with the same migration file ([`MIGRATION`]).

use flovyn_sdk::db::sqlx::{self, Row as _};
use flovyn_sdk::prelude::*;
use flovyn_sdk::{ApiError, Database};
use serde::{Deserialize, Serialize};

/// The migration creating and filling the table, shared with the baseline.
pub const MIGRATION: &str = include_str!("../migrations/001_create_items.sql");

/// The query both servers run, with the item's id as `$1`.
pub const QUERY: &str = "SELECT id, name FROM p_bench_db__items WHERE id = $1";

/// One row of the plugin's table, read per request.
#[flovyn_plugin(name = "bench-db")]
#[migration(1, "create_items", file = "migrations/001_create_items.sql")]
#[derive(Debug)]
pub struct BenchDb {
    db: Database,
}

/// A row of `p_bench_db__items`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Item {
    /// The item's id.
    pub id: i64,
    /// The item's name.
    pub name: String,
}

#[plugin_impl]
impl BenchDb {
    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self {
            db: ctx.database()?.clone(),
        })
    }

    /// One item by id.
    #[route(GET, "/items/{id}", public, errors = [404])]
    async fn item(&self, Path(id): Path<i64>) -> Result<Json<Item>, ApiError> {
        let row = sqlx::query(QUERY)
            .bind(id)
            .fetch_optional(&self.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no item {id}")))?;
        Ok(Json(Item {
            id: row.try_get("id").map_err(ApiError::internal)?,
            name: row.try_get("name").map_err(ApiError::internal)?,
        }))
    }
}
