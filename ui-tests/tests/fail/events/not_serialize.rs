use flovyn_sdk::prelude::*;

/// Has neither `Serialize` nor `Deserialize`: cannot be an event.
#[derive(Debug, Clone)]
pub struct TokenCreated {
    pub id: String,
}

#[flovyn_plugin(name = "worker-token", events = [TokenCreated])]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
