use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_events", sql = "CREATE TABLE p_audit_log__events (id BIGINT PRIMARY KEY)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
