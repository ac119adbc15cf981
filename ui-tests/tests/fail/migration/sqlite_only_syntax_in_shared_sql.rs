use flovyn_sdk::prelude::*;

// `AUTOINCREMENT` is SQLite only: shared SQL must parse on both databases.
#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE p_worker_token__a (id INTEGER PRIMARY KEY AUTOINCREMENT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
