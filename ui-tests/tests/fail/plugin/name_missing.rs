use flovyn_sdk::prelude::*;

#[flovyn_plugin(version = "0.1.0")]
pub struct Nameless;

fn main() {}
