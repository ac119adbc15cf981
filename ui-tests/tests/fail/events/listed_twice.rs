use flovyn_sdk::prelude::*;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenCreated {
    pub id: String,
}

#[flovyn_plugin(name = "worker-token", events = [TokenCreated, TokenCreated])]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
