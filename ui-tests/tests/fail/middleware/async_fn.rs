use flovyn_sdk::middleware::Middleware;
use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "stamp")]
#[derive(Default)]
pub struct Stamp;

#[plugin_impl]
impl Stamp {
    #[middleware]
    async fn stamp(&self) -> Middleware {
        Middleware::from_fn(|request, next: flovyn_sdk::middleware::Next| next.run(request))
    }
}

fn main() {}
