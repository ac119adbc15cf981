//! The first backend: plugins linked into this binary, registered by `#[flovyn_plugin]`
//! (`flovyn_sdk::host::registry`).

use std::sync::Arc;

use flovyn_sdk::host::{LinkedPlugin, PluginInstance};
use flovyn_sdk::{BoxFuture, PluginContext, PluginDescriptor, PluginError};

use super::Backend;

/// A plugin linked into this binary.
#[derive(Debug, Clone, Copy)]
pub struct Linked(pub &'static LinkedPlugin);

impl Backend for Linked {
    fn descriptor(&self) -> &'static PluginDescriptor {
        self.0.descriptor()
    }

    fn origin(&self) -> String {
        format!("crate `{}`", self.0.crate_name)
    }

    fn check_config(&self, section: &serde_json::Value) -> Result<(), String> {
        self.0.validate_config(section)
    }

    fn start(
        &self,
        context: PluginContext,
    ) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>> {
        self.0.construct(context)
    }
}
