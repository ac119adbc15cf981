use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[init]
    async fn init(&self, _ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Hello)
    }
}

fn main() {}
