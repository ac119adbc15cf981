use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "archive")]
#[derive(Default)]
pub struct Archive;

#[plugin_impl]
impl Archive {
    #[task(every = "1h")]
    fn prune(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
