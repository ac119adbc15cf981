use flovyn_sdk::prelude::*;

// Every mistake is reported, not only the first.
#[flovyn_plugin(name = "Hello", version = "one", colour = "red")]
#[migration(1, "create", sql = "CREATE TABLE greetings (id BIGINT)")]
pub struct Hello;

fn main() {}
