//! The load benchmark's baseline: a bare axum 0.8 app, built in release mode like the server,
//! serving the plugin routes the benchmark measures with the same handler logic and nothing
//! else: no layers, no nesting.
//!
//! - `GET /api/v1/p/hello/greeting?name=…`: the `hello` plugin's logic (the same query type,
//!   the same `format!`, the same JSON body); no state;
//! - `GET /api/v1/p/bench-db/items/{id}`: the `bench-db` plugin's logic (the same query on
//!   a table made by the same migration file, through the same sqlx `Any` driver and the same
//!   pool settings: `flovyn_server::store::db::Database`, which opens the server's pool).
//!
//! `axum-baseline [ADDR [DATABASE_URL]]` (defaults `127.0.0.1:8001`,
//! `sqlite://baseline.db`; the table is created on first start). Same runtime as the
//! server's `#[tokio::main]`, so `TOKIO_WORKER_THREADS` applies to both.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use flovyn_sdk::db::sqlx;
use flovyn_server::store::db::Database;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

/// Same shape as `hello::Greeting`.
#[derive(Debug, Serialize)]
struct Greeting {
    message: String,
}

/// Same shape as `hello::GreetingQuery`.
#[derive(Debug, Deserialize)]
struct GreetingQuery {
    name: Option<String>,
}

async fn greeting(Query(query): Query<GreetingQuery>) -> Json<Greeting> {
    let name = query.name.as_deref().unwrap_or("world");
    Json(Greeting {
        message: format!("Hello, {name}!"),
    })
}

/// Same shape as `db_probe::Item`.
#[derive(Debug, Serialize)]
struct Item {
    id: i64,
    name: String,
}

async fn item(
    State(db): State<Database>,
    Path(id): Path<i64>,
) -> Result<Json<Item>, (StatusCode, String)> {
    let internal = |e: sqlx::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let row = sqlx::query(db_probe::QUERY)
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(internal)?
        .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no item {id}")))?;
    Ok(Json(Item {
        id: row.try_get("id").map_err(internal)?,
        name: row.try_get("name").map_err(internal)?,
    }))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8001".to_owned());
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://baseline.db".to_owned());
    let db = Database::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    let exists = sqlx::query("SELECT 1 FROM p_bench_db__items LIMIT 1")
        .fetch_optional(db.pool())
        .await
        .is_ok();
    if !exists {
        sqlx::raw_sql(db_probe::MIGRATION)
            .execute(db.pool())
            .await
            .expect("the bench-db migration runs");
    }
    let app = Router::new()
        .route("/api/v1/p/hello/greeting", get(greeting))
        .route("/api/v1/p/bench-db/items/{id}", get(item).with_state(db));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    eprintln!("axum-baseline listening on {addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
