use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "worker--token")]
pub struct DoubleDash;

fn main() {}
