use flovyn_sdk::prelude::*;

#[allow(non_camel_case_types)]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct token_created {
    pub id: String,
}

#[flovyn_plugin(name = "worker-token", events = [token_created])]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
