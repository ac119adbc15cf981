use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "listener")]
#[derive(Default)]
pub struct Listener;

#[plugin_impl]
impl Listener {
    #[subscribe]
    async fn on_tenant(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
