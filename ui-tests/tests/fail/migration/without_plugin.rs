use flovyn_sdk::prelude::*;

#[migration(1, "create_tokens", sql = "CREATE TABLE p_worker_token__a (id BIGINT)")]
pub struct NotAPlugin;

fn main() {}
