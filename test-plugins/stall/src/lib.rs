//! `stall` — a plugin the server's tests run as a process to see what the host does when a
//! plugin is slow: `GET /wait?ms=…` answers after that many milliseconds, `GET /now` at once.
//! Not an example to follow; it is not linked into any server.

use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// Answers late, or at once.
#[flovyn_plugin(name = "stall")]
#[derive(Debug, Default)]
pub struct Stall;

/// How long `GET /wait` waits.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Wait {
    /// Milliseconds.
    pub ms: u64,
}

/// What a route answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Waited {
    /// The milliseconds waited.
    pub ms: u64,
}

#[plugin_impl]
impl Stall {
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
}
