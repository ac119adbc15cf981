//! Events between plugins: named JSON, written to the server's outbox, delivered at least
//! once to every subscribing plugin (`docs/decisions/0014-durable-events.md`).
//!
//! An event is a type implementing [`Event`] (a name, `<plugin>.<event>`, and
//! `Serialize + Deserialize`). A plugin publishes it
//! - **with its data**: [`Transaction::publish`](crate::Transaction::publish) writes the event
//!   in the plugin's database transaction, so it exists if and only if the data commits;
//! - **on its own**: [`Events::publish`] (`ctx.events()`), after the data — a crash in between
//!   loses the event; prefer the transaction.
//!
//! A plugin subscribes with a `#[subscribe]` method taking the publisher's type (and,
//! optionally, the [`EventMeta`]); a subscriber depends on the publisher's crate.
//!
//! Delivery, as the server runs it:
//! - **At least once per subscribing plugin**, across restarts and replicas: a replica that
//!   dies while handling an event lets another deliver it again. [`EventMeta::id`] is the
//!   same on every delivery of one event: use it to make a handler idempotent.
//! - **In order per subscribing plugin**: a plugin handles its events one at a time, in the
//!   order the server sequenced them after they committed — whatever their types, so a token
//!   created and then revoked reaches it in that order. Between plugins there is no order.
//! - **Retried, then dead-lettered**: a handler that fails or panics is retried with
//!   exponential backoff (holding up that plugin's later events); after the configured number
//!   of attempts the event is set aside with its last error (`/_/plugins`), the plugin goes on,
//!   and the admin can replay it.
//! - **Asynchronous**: publishing never waits for a subscriber.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::BoxFuture;

/// An event plugins exchange.
///
/// Implemented by `#[flovyn_plugin(events = [TokenCreated, …])]` for the types a plugin
/// publishes, with the name derived from the type (`worker-token.token-created`); never
/// written by hand. Events are plain data: they travel as JSON (to the outbox, to plugins in
/// other processes) and are read back into the subscriber's type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event",
    note = "the plugin that publishes `{Self}` declares it: `#[flovyn_plugin(name = \"…\", events = [{Self}])]`"
)]
pub trait Event: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// `<publishing plugin>.<event>`, e.g. `worker-token.token-created`.
    const NAME: &'static str;
}

/// The server's own events, published as `core.<event>`.
pub mod core {
    use serde::{Deserialize, Serialize};

    use super::Event;

    /// A tenant was created (`POST /api/v1/tenants`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TenantCreated {
        /// The tenant's id.
        pub id: String,
        /// Its display name.
        pub name: String,
        /// The principal that created it.
        pub created_by: String,
    }

    impl Event for TenantCreated {
        const NAME: &'static str = "core.tenant-created";
    }
}

/// What a handler may know about the event it handles: take it as the `#[subscribe]`
/// method's second argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The event's id: the same on every delivery of this event (a UUID).
    pub id: String,
    /// Its name, e.g. `worker-token.token-created`.
    pub name: String,
    /// The plugin that published it (`core` for the server).
    pub publisher: String,
    /// When it was published (RFC 3339, UTC).
    pub published_at: String,
}

/// An event on its way into the outbox: its id, name, publisher and JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The event's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The publishing plugin.
    pub publisher: String,
    /// The event as JSON.
    pub payload: String,
    /// When it was published (RFC 3339, UTC).
    pub published_at: String,
}

impl OutboxEvent {
    /// `event` as `publisher` publishes it; refused when `publisher` does not declare it.
    pub fn new<E: Event>(publisher: &str, event: &E) -> Result<Self, PublishError> {
        if flovyn_naming::event::publisher(E::NAME) != Some(publisher) {
            return Err(PublishError::NotDeclared {
                plugin: publisher.to_owned(),
                event: E::NAME.to_owned(),
            });
        }
        let payload = serde_json::to_string(event).map_err(PublishError::Encode)?;
        Ok(Self::from_parts(publisher, E::NAME, payload))
    }

    /// An event from its parts, with a new id and the current time.
    pub fn from_parts(publisher: &str, name: &str, payload: String) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            publisher: publisher.to_owned(),
            payload,
            published_at: crate::time::now_rfc3339(),
        }
    }

    /// What a handler of it is told.
    pub fn meta(&self) -> EventMeta {
        EventMeta {
            id: self.id.clone(),
            name: self.name.clone(),
            publisher: self.publisher.clone(),
            published_at: self.published_at.clone(),
        }
    }
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// A plugin publishes only the events it declares (`events = […]`).
    #[error(
        "plugin `{plugin}` does not publish `{event}`: a plugin publishes only the events its `events = […]` declares"
    )]
    NotDeclared {
        /// The plugin that tried.
        plugin: String,
        /// The event.
        event: String,
    },
    /// The event did not serialize.
    #[error("the event does not serialize to JSON: {0}")]
    Encode(serde_json::Error),
    /// The outbox could not be written.
    #[error("the event could not be written: {0}")]
    Store(#[from] sqlx::Error),
}

impl From<PublishError> for crate::PluginError {
    fn from(e: PublishError) -> Self {
        crate::PluginError::new(e.to_string())
    }
}

impl From<PublishError> for crate::ApiError {
    fn from(e: PublishError) -> Self {
        crate::ApiError::internal(e)
    }
}

/// Where published events go: the server's outbox. Host API (see [`crate::host`]).
pub trait EventSink: Send + Sync + 'static {
    /// Writes `event` on `conn`, inside the transaction open on it.
    fn write_in<'c>(
        &'c self,
        conn: &'c mut sqlx::AnyConnection,
        event: &'c OutboxEvent,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// Writes `event` on its own.
    fn write<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<(), sqlx::Error>>;

    /// Events were committed: deliver them soon.
    fn committed(&self);
}

/// A plugin process's way to the host's outbox (its client of the host's service).
pub(crate) trait RemotePublish: Send + Sync + 'static {
    /// Publishes `event` through the host, in `transaction` when not 0.
    fn publish<'a>(
        &'a self,
        event: &'a OutboxEvent,
        transaction: u64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

/// How a plugin's events leave it.
#[derive(Clone)]
pub(crate) enum Route {
    /// Into the server's outbox (a linked plugin).
    Sink(Arc<dyn EventSink>),
    /// Through the host (a plugin process).
    Host(Arc<dyn RemotePublish>),
    /// Nowhere: a context built outside the server (a test).
    Nowhere,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Sink(_) => "Sink",
            Route::Host(_) => "Host",
            Route::Nowhere => "Nowhere",
        })
    }
}

/// A plugin's handle for publishing on its own (`ctx.events()`); see the module docs.
#[derive(Clone, Debug)]
pub struct Events {
    plugin: &'static str,
    route: Route,
}

impl Events {
    /// A handle whose events reach no one: what a [`PluginContext`](crate::PluginContext)
    /// built outside the server (in a test) gives. Publishing still checks the event is the
    /// plugin's.
    pub fn detached(plugin: &'static str) -> Self {
        Self {
            plugin,
            route: Route::Nowhere,
        }
    }

    /// `plugin`'s handle on the server's outbox. Host API.
    pub fn to_sink(plugin: &'static str, sink: Arc<dyn EventSink>) -> Self {
        Self {
            plugin,
            route: Route::Sink(sink),
        }
    }

    pub(crate) fn through_host(plugin: &'static str, host: Arc<dyn RemotePublish>) -> Self {
        Self {
            plugin,
            route: Route::Host(host),
        }
    }

    pub(crate) fn plugin(&self) -> &'static str {
        self.plugin
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    /// Writes `event` to the outbox on its own, outside any transaction of the plugin's: if
    /// the server stops between the plugin's data and this call, the event is lost. Prefer
    /// [`Transaction::publish`](crate::Transaction::publish).
    pub async fn publish<E: Event>(&self, event: E) -> Result<(), PublishError> {
        let event = OutboxEvent::new(self.plugin, &event)?;
        self.publish_outbox(&event).await
    }

    /// Writes an already built event (its publisher checked). Host API.
    pub async fn publish_outbox(&self, event: &OutboxEvent) -> Result<(), PublishError> {
        match &self.route {
            Route::Sink(sink) => {
                sink.write(event).await?;
                sink.committed();
            }
            Route::Host(host) => host.publish(event, 0).await?,
            Route::Nowhere => {
                tracing::debug!(plugin = self.plugin, event = %event.name, "event published nowhere (no server)");
            }
        }
        Ok(())
    }
}
