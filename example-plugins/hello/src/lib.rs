//! `hello` — the smallest real Flovyn plugin.
//!
//! One migration creating `p_hello__greetings`, a public route and a protected one. It is
//! the plugin the SDK's and the server's tests are built around, and the one the guide
//! walks through.

use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// Says hello, publicly or to the authenticated caller.
#[flovyn_plugin(name = "hello")]
#[migration(1, "create_greetings", file = "migrations/001_create_greetings.sql")]
#[migration(
    2,
    "greeted_at_as_text",
    file = "migrations/002_greeted_at_as_text.sql"
)]
#[derive(Debug, Default)]
pub struct Hello;

/// A greeting.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Greeting {
    /// The text of the greeting.
    pub message: String,
}

/// Query of `GET /greeting`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct GreetingQuery {
    /// Who to greet; "world" when absent.
    pub name: Option<String>,
}

#[plugin_impl]
impl Hello {
    /// Greet someone.
    ///
    /// Public: needs no credentials.
    #[route(GET, "/greeting", public)]
    async fn greeting(&self, Query(query): Query<GreetingQuery>) -> Json<Greeting> {
        let name = query.name.as_deref().unwrap_or("world");
        Json(Greeting {
            message: format!("Hello, {name}!"),
        })
    }

    /// Greet the caller by their principal id.
    #[route(GET, "/me", permission = "hello:read")]
    async fn me(&self, who: Identity) -> Result<Json<Greeting>, ApiError> {
        Ok(Json(Greeting {
            message: format!("Hello, {}!", who.principal_id),
        }))
    }
}

// The README's tour is this plugin; compiling it here (where its migration file exists)
// keeps the README honest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeTour;
