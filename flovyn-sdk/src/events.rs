//! Events between plugins: typed, in-process and asynchronous.
//!
//! An event is a type implementing [`Event`] (a name, `<plugin>.<event>`, and `Clone`). A
//! plugin publishes with [`Events::publish`] and subscribes with [`Events::subscribe`], both
//! on the handle its [`PluginContext`](crate::PluginContext) gives (`ctx.events()`); a
//! subscriber uses the publisher's type, so it depends on the publisher's crate.
//!
//! Delivery, as the server runs it:
//! - **Asynchronous**: `publish` only queues; it never waits for a subscriber and never fails
//!   because of one.
//! - **One queue per subscribing plugin**, of [`QUEUE_CAPACITY`] events, shared by all of
//!   that plugin's subscriptions. When it is full, the new event is **dropped for that
//!   plugin** (logged at `warn` and counted, [`EventBus::dropped`]); other plugins still get
//!   it. A slow subscriber never slows the publisher or the other plugins.
//! - **In publish order per subscribing plugin**: a plugin handles its events one at a time,
//!   in the order they were queued — whatever their types, so a token created and then
//!   revoked reaches it in that order. Between plugins there is no order.
//! - **Isolated**: a handler that returns an error or panics is logged with the plugin and the
//!   event name; the plugin goes on with its next event.
//! - **Shutdown**: the server stops taking events after the HTTP server has drained, lets
//!   each plugin finish its queue (bounded by the shutdown grace), then runs the stop hooks.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::mpsc;

use crate::PluginError;

/// How many events a subscribing plugin's queue holds before new ones are dropped for it.
pub const QUEUE_CAPACITY: usize = 1024;

/// An event plugins exchange.
///
/// Implemented by `#[flovyn_plugin(events = [TokenCreated, …])]` for the types a plugin
/// publishes, with the name derived from the type (`worker-token.token-created`); never
/// written by hand. Events are `Serialize` so that a subscriber may store or forward them
/// as they are (the audit log does).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event",
    note = "the plugin that publishes `{Self}` declares it: `#[flovyn_plugin(name = \"…\", events = [{Self}])]`"
)]
pub trait Event: Clone + serde::Serialize + Send + Sync + 'static {
    /// `<publishing plugin>.<event>`, e.g. `worker-token.token-created`.
    const NAME: &'static str;
}

/// The server's own events, published as `core.<event>`.
pub mod core {
    use serde::Serialize;

    use super::Event;

    /// A tenant was created (`POST /api/v1/tenants`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

type Delivered = Arc<dyn Any + Send + Sync>;

/// A subscription's handler, taking the event type-erased.
type Handler =
    Arc<dyn Fn(Delivered) -> crate::BoxFuture<'static, Result<(), PluginError>> + Send + Sync>;

struct Subscription {
    plugin: &'static str,
    event: &'static str,
    handler: Handler,
    mailbox: mpsc::Sender<Letter>,
}

/// One event on its way to one handler.
struct Letter {
    event: Delivered,
    name: &'static str,
    handler: Handler,
}

/// The server's event bus: every subscription, each subscribing plugin's queue, and the
/// tasks delivering from them. Host API (see [`crate::host`]).
#[doc(hidden)]
pub struct EventBus {
    capacity: usize,
    subscriptions: RwLock<HashMap<TypeId, Vec<Subscription>>>,
    mailboxes: Mutex<HashMap<&'static str, mpsc::Sender<Letter>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subscriptions = self.subscriptions.read().unwrap_or_else(|e| e.into_inner());
        let names: Vec<String> = subscriptions
            .values()
            .flatten()
            .map(|s| format!("{} ← {}", s.plugin, s.event))
            .collect();
        f.debug_struct("EventBus")
            .field("subscriptions", &names)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::with_capacity(QUEUE_CAPACITY)
    }
}

impl EventBus {
    /// A bus whose subscribing plugins each have a queue of `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            subscriptions: RwLock::default(),
            mailboxes: Mutex::default(),
            tasks: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// The handle a plugin publishes and subscribes with.
    pub fn handle(self: &Arc<Self>, plugin: &'static str) -> Events {
        Events {
            bus: self.clone(),
            plugin,
        }
    }

    /// Events dropped because a subscriber's queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops taking events and waits, at most `grace`, for every plugin to handle what it
    /// has queued. Deliveries still busy then are cancelled.
    pub async fn close(&self, grace: Duration) {
        // Dropping every sender ends each delivery task once its queue is empty.
        self.subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.mailboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("event subscribers still busy at shutdown: cancelled");
            aborts.iter().for_each(|a| a.abort());
        }
    }

    /// `plugin`'s queue, with its delivery task started on first use.
    fn mailbox(&self, plugin: &'static str) -> mpsc::Sender<Letter> {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = mailboxes.get(plugin) {
            return sender.clone();
        }
        let (sender, mut letters) = mpsc::channel::<Letter>(self.capacity);
        let task = tokio::spawn(async move {
            while let Some(letter) = letters.recv().await {
                let name = letter.name;
                match AssertUnwindSafe((letter.handler)(letter.event))
                    .catch_unwind()
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(plugin, event = name, error = %e, "event handler failed")
                    }
                    Err(_) => tracing::error!(plugin, event = name, "event handler panicked"),
                }
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        mailboxes.insert(plugin, sender.clone());
        sender
    }
}

/// A plugin's handle on the event bus (`ctx.events()`).
#[derive(Clone, Debug)]
pub struct Events {
    bus: Arc<EventBus>,
    plugin: &'static str,
}

impl Events {
    /// A handle on a bus of its own, with no other plugin on it: what a
    /// [`PluginContext`](crate::PluginContext) built outside the server (in a test) gives.
    pub fn detached(plugin: &'static str) -> Self {
        Arc::new(EventBus::default()).handle(plugin)
    }

    /// Queues `event` for every subscription to its type; returns how many queued it (a
    /// full subscription drops it, see the module docs).
    ///
    /// A plugin publishes only its own events (those its `events = […]` declares): another
    /// plugin's event is refused, logged, and reaches no one.
    pub fn publish<E: Event>(&self, event: E) -> usize {
        if flovyn_naming::event::publisher(E::NAME) != Some(self.plugin) {
            tracing::error!(
                plugin = self.plugin,
                event = E::NAME,
                "event refused: a plugin publishes only the events it declares"
            );
            return 0;
        }
        let subscriptions = self
            .bus
            .subscriptions
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let Some(subscriptions) = subscriptions.get(&TypeId::of::<E>()) else {
            return 0;
        };
        let event: Delivered = Arc::new(event);
        let mut queued = 0;
        for s in subscriptions {
            let letter = Letter {
                event: event.clone(),
                name: E::NAME,
                handler: s.handler.clone(),
            };
            match s.mailbox.try_send(letter) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.bus.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        publisher = self.plugin,
                        subscriber = s.plugin,
                        event = E::NAME,
                        "event dropped: the subscriber's queue is full"
                    );
                }
                // The bus is closing.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        queued
    }

    /// Calls `handler` with every `E` published from now on, on the plugin's queue: one
    /// event at a time, in publish order with the plugin's other subscriptions. Must be
    /// called inside the server's runtime (in `#[init]` or `#[on_start]`).
    pub fn subscribe<E, F, Fut>(&self, handler: F)
    where
        E: Event,
        F: Fn(E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), PluginError>> + Send + 'static,
    {
        let handler: Handler =
            Arc::new(
                move |delivered: Delivered| match delivered.downcast_ref::<E>() {
                    Some(event) => Box::pin(handler(event.clone())),
                    None => Box::pin(async { Ok(()) }),
                },
            );
        let mailbox = self.bus.mailbox(self.plugin);
        self.bus
            .subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(TypeId::of::<E>())
            .or_default()
            .push(Subscription {
                plugin: self.plugin,
                event: E::NAME,
                handler,
                mailbox,
            });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    struct Pinged(u32);

    impl Event for Pinged {
        const NAME: &'static str = "pinger.pinged";
    }

    #[derive(Debug, Clone, serde::Serialize)]
    struct Other;

    impl Event for Other {
        const NAME: &'static str = "pinger.other";
    }

    #[tokio::test]
    async fn delivers_in_order_to_every_subscriber_of_the_type() {
        let bus = Arc::new(EventBus::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        for who in ["a", "b"] {
            let seen = seen.clone();
            bus.handle("ponger").subscribe(move |e: Pinged| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push((who, e.0));
                    Ok(())
                }
            });
        }
        let publisher = bus.handle("pinger");
        assert_eq!(publisher.publish(Other), 0, "nobody subscribed to it");
        for n in 1..=3 {
            assert_eq!(publisher.publish(Pinged(n)), 2);
        }
        bus.close(Duration::from_secs(5)).await;
        let seen = seen.lock().unwrap().clone();
        let of = |who| {
            seen.iter()
                .filter(|(w, _)| *w == who)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
        };
        assert_eq!((of("a"), of("b")), (vec![1, 2, 3], vec![1, 2, 3]));
        assert_eq!(
            publisher.publish(Pinged(4)),
            0,
            "a closed bus takes nothing"
        );
    }

    #[tokio::test]
    async fn a_plugin_gets_its_events_of_every_type_in_publish_order() {
        let bus = Arc::new(EventBus::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (slow, fast) = (seen.clone(), seen.clone());
        let ponger = bus.handle("ponger");
        ponger.subscribe(move |e: Pinged| {
            let seen = slow.clone();
            async move {
                // Slower than the other type's handler: order must not depend on it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                seen.lock().unwrap().push(format!("pinged {}", e.0));
                Ok(())
            }
        });
        ponger.subscribe(move |_: Other| {
            let seen = fast.clone();
            async move {
                seen.lock().unwrap().push("other".to_owned());
                Ok(())
            }
        });
        let pinger = bus.handle("pinger");
        pinger.publish(Pinged(1));
        pinger.publish(Other);
        pinger.publish(Pinged(2));
        bus.close(Duration::from_secs(5)).await;
        assert_eq!(*seen.lock().unwrap(), ["pinged 1", "other", "pinged 2"]);
    }

    #[tokio::test]
    async fn a_plugin_cannot_publish_another_plugins_event() {
        let bus = Arc::new(EventBus::default());
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        bus.handle("ponger").subscribe(move |_: Pinged| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        assert_eq!(bus.handle("impostor").publish(Pinged(1)), 0);
        assert_eq!(bus.handle("pinger").publish(Pinged(2)), 1);
        bus.close(Duration::from_secs(5)).await;
        assert_eq!(seen.load(Ordering::SeqCst), 1, "only pinger's own event");
    }

    #[tokio::test]
    async fn a_failing_or_panicking_subscriber_affects_no_one_else() {
        let bus = Arc::new(EventBus::default());
        bus.handle("grumpy").subscribe(|e: Pinged| async move {
            if e.0 == 1 {
                panic!("subscriber bug");
            }
            Err(PluginError::new("no thanks"))
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        bus.handle("ponger").subscribe(move |e: Pinged| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(e.0);
                Ok(())
            }
        });
        let publisher = bus.handle("pinger");
        assert_eq!(publisher.publish(Pinged(1)), 2);
        assert_eq!(publisher.publish(Pinged(2)), 2);
        bus.close(Duration::from_secs(5)).await;
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_for_that_subscriber_only() {
        let bus = Arc::new(EventBus::with_capacity(2));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let slow_gate = gate.clone();
        bus.handle("slow").subscribe(move |_: Pinged| {
            let gate = slow_gate.clone();
            async move {
                // Blocks until the test opens the gate: the queue fills behind it.
                gate.acquire().await.unwrap().forget();
                Ok(())
            }
        });
        let fast = Arc::new(AtomicU64::new(0));
        let counter = fast.clone();
        bus.handle("fast").subscribe(move |_: Pinged| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        let publisher = bus.handle("pinger");
        // Let the slow subscriber take the first event and block on it.
        publisher.publish(Pinged(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut queued_for_both = 0;
        for n in 1..=5 {
            if publisher.publish(Pinged(n)) == 2 {
                queued_for_both += 1;
            }
            // The fast subscriber keeps up.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(queued_for_both, 2, "the slow queue holds two");
        assert_eq!(bus.dropped(), 3);
        gate.add_permits(10);
        bus.close(Duration::from_secs(5)).await;
        assert_eq!(
            fast.load(Ordering::SeqCst),
            6,
            "the fast one got everything"
        );
    }
}
