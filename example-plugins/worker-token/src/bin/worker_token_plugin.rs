//! `worker-token` as a plugin process (`[plugins.worker-token] mode = "process"`).

flovyn_sdk::process::main!(worker_token::WorkerToken);
