use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[on_start]
    async fn start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        Ok(())
    }

    #[on_start]
    async fn also_start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
