//! `greeter` — a plugin that lives outside the Flovyn workspace, linked by the custom server.

use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// Greets in the caller's language.
#[flovyn_plugin(name = "greeter")]
#[derive(Debug, Default)]
pub struct Greeter;

/// A greeting.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Greeting {
    /// The text of the greeting.
    pub message: String,
}

/// Query of `GET /greeting`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct GreetingQuery {
    /// A language code: `en` (the default), `fr` or `de`.
    pub lang: Option<String>,
}

#[plugin_impl]
impl Greeter {
    /// Greet in a language.
    #[route(GET, "/greeting", public)]
    async fn greeting(&self, Query(query): Query<GreetingQuery>) -> Result<Json<Greeting>, ApiError> {
        let message = match query.lang.as_deref().unwrap_or("en") {
            "en" => "Hello!",
            "fr" => "Bonjour !",
            "de" => "Hallo!",
            other => {
                return Err(ApiError::bad_request(format!(
                    "no greeting in `{other}`: use `en`, `fr` or `de`"
                )));
            }
        };
        Ok(Json(Greeting {
            message: message.to_owned(),
        }))
    }
}
