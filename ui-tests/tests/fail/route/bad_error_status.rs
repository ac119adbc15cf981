use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(GET, "/tokens/{id}", errors = [404, 200])]
    async fn token(&self, Path(id): Path<String>) -> Result<String, ApiError> {
        Ok(id)
    }
}

fn main() {}
