use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "index", sql = "CREATE INDEX p_worker_token__idx ON p_audit_log__events (id)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
