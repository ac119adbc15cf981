use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE p_worker_token__tokens (id BIGINT, event BIGINT REFERENCES p_audit_log__events(id))")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
