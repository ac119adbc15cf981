//! Start-up: collect the linked plugins, construct them and run their start hooks.

use std::sync::Arc;

use flovyn_sdk::{PluginContext, PluginDescriptor, PluginInstance};

/// A plugin that is constructed and started.
pub struct RunningPlugin {
    /// What the plugin is.
    pub descriptor: &'static PluginDescriptor,
    /// The plugin itself.
    pub instance: Arc<dyn PluginInstance>,
    /// The context its hooks receive.
    pub context: PluginContext,
}

impl std::fmt::Debug for RunningPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPlugin")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Two linked crates register the same plugin name.
    #[error("plugin name `{name}` is registered twice: by crate `{first}` and by crate `{second}`")]
    DuplicateName {
        /// The name.
        name: &'static str,
        /// One crate.
        first: &'static str,
        /// The other crate.
        second: &'static str,
    },
    /// A constructor or start hook failed.
    #[error("plugin `{plugin}` failed to {stage}: {source}")]
    Plugin {
        /// The plugin.
        plugin: &'static str,
        /// `start` or `construct`.
        stage: &'static str,
        /// What it said.
        #[source]
        source: flovyn_sdk::PluginError,
    },
}

/// Constructs and starts every plugin in `plugins` (sorted by name), in order.
pub async fn start(
    plugins: &[&'static PluginDescriptor],
) -> Result<Vec<RunningPlugin>, StartupError> {
    for pair in plugins.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(StartupError::DuplicateName {
                name: pair[0].name,
                first: pair[0].crate_name,
                second: pair[1].crate_name,
            });
        }
    }
    let mut running = Vec::with_capacity(plugins.len());
    for &descriptor in plugins {
        let context = PluginContext::new(
            descriptor.name,
            serde_json::Value::Object(Default::default()),
        );
        let instance = descriptor
            .construct(context.clone())
            .await
            .map_err(|source| StartupError::Plugin {
                plugin: descriptor.name,
                stage: "construct",
                source,
            })?;
        instance
            .on_start(&context)
            .await
            .map_err(|source| StartupError::Plugin {
                plugin: descriptor.name,
                stage: "start",
                source,
            })?;
        running.push(RunningPlugin {
            descriptor,
            instance,
            context,
        });
    }
    Ok(running)
}
