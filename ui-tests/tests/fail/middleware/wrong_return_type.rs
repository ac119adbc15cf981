use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "stamp")]
#[derive(Default)]
pub struct Stamp;

#[plugin_impl]
impl Stamp {
    #[middleware(priority = 5)]
    fn stamp(&self) -> u32 {
        5
    }
}

fn main() {}
