//! `bench-auth` — a bench-only plugin for `bench/run.sh auth`: the `hello` plugin's greeting
//! (`?name=…` → `{"message":"Hello, <name>!"}`), served by two routes that differ only in
//! their access:
//!
//! - `GET /api/v1/p/bench-auth/open`: `public`, measured without credentials;
//! - `GET /api/v1/p/bench-auth/guarded`: any authenticated caller (no permission), measured
//!   with a worker token.
//!
//! Both call [`greet`], so the difference between them is the authentication of the caller
//! and the route's access check, nothing else.

use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// The hello plugin's greeting, twice: publicly and to any authenticated caller.
#[flovyn_plugin(name = "bench-auth")]
#[derive(Debug, Default)]
pub struct BenchAuth;

/// A greeting (same shape as `hello::Greeting`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Greeting {
    /// The text of the greeting.
    pub message: String,
}

/// Query of both routes (same shape as `hello::GreetingQuery`).
#[derive(Debug, Deserialize, IntoParams)]
pub struct GreetingQuery {
    /// Who to greet; "world" when absent.
    pub name: Option<String>,
}

/// The work of both routes: the same as the hello plugin's `GET /greeting`.
fn greet(query: &GreetingQuery) -> Json<Greeting> {
    let name = query.name.as_deref().unwrap_or("world");
    Json(Greeting {
        message: format!("Hello, {name}!"),
    })
}

#[plugin_impl]
impl BenchAuth {
    /// Greet someone, without credentials.
    #[route(GET, "/open", public)]
    async fn open(&self, Query(query): Query<GreetingQuery>) -> Json<Greeting> {
        greet(&query)
    }

    /// Greet someone, for any authenticated caller.
    #[route(GET, "/guarded")]
    async fn guarded(&self, Query(query): Query<GreetingQuery>) -> Json<Greeting> {
        greet(&query)
    }
}
