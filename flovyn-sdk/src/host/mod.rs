//! What only a host needs — the server, or a test that plays one. Plugin authors do not use
//! this module: their API is the crate root and the [`prelude`](crate::prelude).
//!
//! - [`LinkedPlugin`]: a plugin linked into the binary, as its macros emitted it; its
//!   [`descriptor`](LinkedPlugin::descriptor) is what the plugin is, as data, and
//!   [`construct`](LinkedPlugin::construct) gives its [`PluginInstance`];
//! - [`registry`]: every linked plugin;
//! - [`PluginInstance`]: a running plugin as the host drives it;
//! - [`EventSink`]: where plugins' events go (the server's outbox);
//! - [`naming`]: the naming rules the host checks descriptors with;
//! - [`storage`]: the storage service a plugin process reaches the database through.

pub mod linked;
pub mod registry;
pub mod storage;

mod instance;

#[doc(inline)]
pub use crate::events::{EventSink, OutboxEvent};
pub use flovyn_naming as naming;
pub use instance::PluginInstance;
pub use linked::LinkedPlugin;
