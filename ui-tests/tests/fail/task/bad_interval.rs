use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "archive")]
#[derive(Default)]
pub struct Archive;

#[plugin_impl]
impl Archive {
    #[task(every = "hourly")]
    async fn prune(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
