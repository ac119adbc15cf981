use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
pub enum Hello {
    A,
}

fn main() {}
