//! The plugins the server hosts, whatever their kind: what each is (its
//! [`PluginDescriptor`]), how the host reaches its code (a [`Backend`]), and the running
//! plugin ([`RunningPlugin`]). The one route table of every hosted route is [`routes`].
//!
//! A backend is the only thing that differs between a plugin linked into this binary
//! ([`linked::Linked`], the first backend) and one in another process or a sandbox: the
//! host plans, checks, migrates, documents and routes from the descriptor alone.

use std::fmt;
use std::sync::Arc;

use flovyn_sdk::host::PluginInstance;
use flovyn_sdk::{BoxFuture, PluginContext, PluginDescriptor, PluginError};

pub mod linked;
pub mod process;
pub mod routes;

/// How the host reaches one plugin's code.
pub trait Backend: Send + Sync + fmt::Debug {
    /// What the plugin is.
    fn descriptor(&self) -> &'static PluginDescriptor;

    /// Where the plugin comes from, for messages (``crate `hello` ``).
    fn origin(&self) -> String;

    /// Checks the plugin's configuration section (`[plugins.<name>]` without `enabled`);
    /// the error names the offending key.
    fn check_config(&self, section: &serde_json::Value) -> Result<(), String>;

    /// How a supervised plugin stands (state, restarts, last exit); `None` for plugins that
    /// cannot crash apart from the server (linked ones).
    fn status(&self) -> Option<process::Status> {
        None
    }

    /// Whether the plugin applies its own `#[middleware]` around its routes where it runs (a
    /// process does, in the process), so the server's chain leaves them out; then none of
    /// them may be scoped beyond the plugin's prefix.
    fn applies_middleware(&self) -> bool {
        false
    }

    /// Starts the plugin with `context`: its running instance.
    fn start(
        &self,
        context: PluginContext,
    ) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>>;
}

/// A plugin that is constructed and started.
pub struct RunningPlugin {
    /// What the plugin is.
    pub descriptor: &'static PluginDescriptor,
    /// The plugin itself.
    pub instance: Arc<dyn PluginInstance>,
    /// The context its hooks receive.
    pub context: PluginContext,
    /// How the host reaches it (for its [`Backend::status`]).
    pub backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for RunningPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPlugin")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}
