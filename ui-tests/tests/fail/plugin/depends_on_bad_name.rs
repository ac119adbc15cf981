use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello", depends_on = ["Audit_Log"])]
pub struct Hello;

fn main() {}
