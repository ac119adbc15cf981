use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(GET, "/tokens", permission = "Read Tokens")]
    async fn tokens(&self) -> &'static str {
        "tokens"
    }
}

fn main() {}
