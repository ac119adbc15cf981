//! Picks a plugin's parts from its `#[plugin_impl]` block when it has one, and falls back
//! to "no routes, built with `Default`" when it has none.
//!
//! `#[flovyn_plugin]` cannot see whether the crate also has a `#[plugin_impl]` block, so it
//! emits `(&&Probe::<T>::new()).parts()`. Method resolution tries the receiver `&&Probe<T>`
//! first, which only [`ViaPluginImpl`] matches, and only when `T: PluginImpl`; otherwise it
//! auto-derefs to `&Probe<T>`, which [`ViaDefault`] matches. This works because `T` is a
//! concrete type at the expansion site.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{DefaultConstruct, PluginImpl};
use crate::host::PluginInstance;
use crate::host::linked::PluginParts;

/// See the module docs.
#[derive(Debug)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// Chosen when the plugin has a `#[plugin_impl]` block.
pub trait ViaPluginImpl {
    /// The parts.
    fn parts(&self) -> &'static PluginParts;
}

impl<T: PluginImpl> ViaPluginImpl for &Probe<T> {
    fn parts(&self) -> &'static PluginParts {
        T::PARTS
    }
}

/// Chosen when it has none: no routes, no hooks, built with `Default`.
///
/// The bound sits on the method, not the impl, so that a plugin with neither a
/// `#[plugin_impl]` block nor `Default` gets the `DefaultConstruct` diagnostic rather than
/// "method not found".
pub trait ViaDefault<T> {
    /// The parts.
    fn parts(&self) -> &'static PluginParts
    where
        T: DefaultConstruct + Send + Sync + 'static;
}

struct Bare<T>(#[allow(dead_code)] T);
impl<T: Send + Sync + 'static> PluginInstance for Bare<T> {}

impl<T> ViaDefault<T> for Probe<T> {
    fn parts(&self) -> &'static PluginParts
    where
        T: DefaultConstruct + Send + Sync + 'static,
    {
        fn operations(_: &mut crate::openapi::DocContext) -> Vec<utoipa::openapi::path::Operation> {
            Vec::new()
        }
        trait Parts {
            const PARTS: &'static PluginParts;
        }
        impl<T: DefaultConstruct + Send + Sync + 'static> Parts for T {
            const PARTS: &'static PluginParts = &PluginParts {
                routes: &[],
                operations,
                security_scheme: None,
                has_authorizer: false,
                subscriptions: &[],
                tasks: &[],
                middleware: &[],
                grpc: &[],
                construct: |_ctx| {
                    Box::pin(async {
                        let instance: Arc<dyn PluginInstance> = Arc::new(Bare(T::construct()));
                        Ok(instance)
                    })
                },
            };
        }
        <T as Parts>::PARTS
    }
}

/// Lets generated code name a `#[subscribe]` method's event type without repeating the
/// "not an event" error: the one `assert_event` check reports it, and these calls fall
/// back to doing nothing for a type that is not an event (that build fails anyway).
#[derive(Debug)]
pub struct EventProbe<T>(PhantomData<T>);

impl<T> EventProbe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        EventProbe(PhantomData)
    }
}

/// Chosen when `T` is an event.
pub trait ViaEvent<T> {
    /// The event's name.
    fn event_name(&self) -> &'static str;
    /// Reads a delivered payload as `T`.
    fn decode(&self, payload: &str) -> Result<T, crate::PluginError>;
}

impl<T: crate::events::Event> ViaEvent<T> for &EventProbe<T> {
    fn event_name(&self) -> &'static str {
        T::NAME
    }
    fn decode(&self, payload: &str) -> Result<T, crate::PluginError> {
        serde_json::from_str(payload)
            .map_err(|e| crate::PluginError::new(format!("event `{}` does not read: {e}", T::NAME)))
    }
}

/// Chosen when it is not (the build fails on `assert_event`).
pub trait ViaNotEvent<T> {
    /// Nothing.
    fn event_name(&self) -> &'static str;
    /// Never reached.
    fn decode(&self, payload: &str) -> Result<T, crate::PluginError>;
}

impl<T> ViaNotEvent<T> for EventProbe<T> {
    fn event_name(&self) -> &'static str {
        ""
    }
    fn decode(&self, _payload: &str) -> Result<T, crate::PluginError> {
        Err(crate::PluginError::new("not an event"))
    }
}
