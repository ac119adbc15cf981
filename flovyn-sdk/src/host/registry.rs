//! The set of plugins linked into this binary.
//!
//! `#[flovyn_plugin]` registers each plugin's [`LinkedPlugin`] at link time through
//! `inventory` (the default) or a `linkme` distributed slice (the `linkme` feature). Both
//! backends give the same answer; [`plugins`] sorts by name because link order is not
//! stable between builds.
//!
//! A crate that is a dependency but never named in code is not linked by rustc, so its
//! plugin is missing here: the server's build script names every plugin dependency.

use crate::host::linked::LinkedPlugin;

/// Every linked plugin, sorted by name.
pub fn plugins() -> Vec<&'static LinkedPlugin> {
    let mut all = backend::all();
    all.sort_by(|a, b| a.name.cmp(b.name).then(a.crate_name.cmp(b.crate_name)));
    all
}

/// The linked plugin called `name`.
pub fn find(name: &str) -> Option<&'static LinkedPlugin> {
    backend::all().into_iter().find(|p| p.name == name)
}

/// Which registration backend this build uses: `"inventory"` or `"linkme"`.
pub const BACKEND: &str = backend::NAME;

#[cfg(not(feature = "linkme"))]
mod backend {
    use super::LinkedPlugin;

    pub(super) const NAME: &str = "inventory";

    #[doc(hidden)]
    #[derive(Debug)]
    pub struct Registration(pub &'static LinkedPlugin);

    inventory::collect!(Registration);

    pub(super) fn all() -> Vec<&'static LinkedPlugin> {
        inventory::iter::<Registration>
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

#[cfg(feature = "linkme")]
mod backend {
    use super::LinkedPlugin;

    pub(super) const NAME: &str = "linkme";

    #[doc(hidden)]
    #[linkme::distributed_slice]
    pub static PLUGINS: [&'static LinkedPlugin];

    pub(super) fn all() -> Vec<&'static LinkedPlugin> {
        PLUGINS.iter().copied().collect()
    }
}

#[doc(hidden)]
#[cfg(not(feature = "linkme"))]
pub use backend::Registration;

#[doc(hidden)]
#[cfg(feature = "linkme")]
pub use backend::PLUGINS;

/// Registers a descriptor with the active backend. Used by `#[flovyn_plugin]`.
#[doc(hidden)]
#[cfg(not(feature = "linkme"))]
#[macro_export]
macro_rules! __register_plugin {
    ($descriptor:path) => {
        $crate::__private::inventory::submit! {
            $crate::host::registry::Registration(&$descriptor)
        }
    };
}

/// Registers a descriptor with the active backend. Used by `#[flovyn_plugin]`.
#[doc(hidden)]
#[cfg(feature = "linkme")]
#[macro_export]
macro_rules! __register_plugin {
    ($descriptor:path) => {
        #[$crate::__private::linkme::distributed_slice($crate::host::registry::PLUGINS)]
        #[linkme(crate = $crate::__private::linkme)]
        static __FLOVYN_PLUGIN_REGISTRATION: &'static $crate::LinkedPlugin = &$descriptor;
    };
}
