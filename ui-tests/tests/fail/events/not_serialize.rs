use flovyn_sdk::prelude::*;

/// Has no `Serialize`: cannot be an event.
#[derive(Debug, Clone)]
pub struct TokenCreated {
    pub id: String,
}

#[flovyn_plugin(name = "worker-token", events = [TokenCreated])]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
