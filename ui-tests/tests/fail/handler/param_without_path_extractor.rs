use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(DELETE, "/tokens/{id}")]
    async fn revoke(&self) -> StatusCode {
        StatusCode::NO_CONTENT
    }
}

fn main() {}
