use flovyn_sdk::prelude::*;

/// Nobody declared it in `events = […]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Something;

#[flovyn_plugin(name = "listener")]
#[derive(Default)]
pub struct Listener;

#[plugin_impl]
impl Listener {
    #[subscribe]
    async fn on_something(&self, _event: Something) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
