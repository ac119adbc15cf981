use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(GET, "/files/{*rest}")]
    async fn files(&self, Path(rest): Path<String>) -> String {
        rest
    }
}

fn main() {}
