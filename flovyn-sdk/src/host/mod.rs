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
//! - [`storage`]: the storage service a plugin process reaches the database through;
//! - [`RequestId`]: the id the host gave a request, for what forwards it.

pub mod linked;
pub mod registry;
pub mod storage;

mod instance;

#[doc(inline)]
pub use crate::events::{EventSink, OutboxEvent};
pub use flovyn_naming as naming;
pub use instance::PluginInstance;
pub use linked::LinkedPlugin;

/// The id the host gave a request (the client's `x-request-id`, or one it generated), in the
/// request's extensions: what forwards the request (a plugin process's backend) passes the id
/// the server logs and answers with.
#[derive(Debug, Clone)]
pub struct RequestId(pub axum::http::HeaderValue);
