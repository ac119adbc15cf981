//! The load benchmark's baseline: a bare axum 0.8 app, built in release mode like the server,
//! serving `GET /api/v1/p/hello/greeting?name=…` with the `hello` plugin's handler logic
//! (the same query type, the same `format!`, the same JSON body) and nothing else: no
//! layers, no nesting, no state.
//!
//! `axum-baseline [ADDR]` (default `127.0.0.1:8001`). Same runtime as the server's
//! `#[tokio::main]`, so `TOKIO_WORKER_THREADS` applies to both.

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde::{Deserialize, Serialize};

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

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".to_owned());
    let app = Router::new().route("/api/v1/p/hello/greeting", get(greeting));
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
