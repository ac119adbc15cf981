//! Flovyn's naming rules, shared by the plugin macros (which turn a broken rule into a
//! compile error) and the server (which checks again at run time, for plugins built
//! elsewhere).
//!
//! Everything here is a pure function of its input: no I/O, no global state, no panics.
//! Error messages follow rustc's style: lowercase, names in backticks, the rule, then the
//! fix.
//!
//! # The rules
//!
//! - [`plugin`] — a plugin name is kebab-case `[a-z][a-z0-9]*(-[a-z0-9]+)*`, at most
//!   [`MAX_PLUGIN_NAME_LEN`](plugin::MAX_PLUGIN_NAME_LEN) characters; its version is
//!   semantic (`0.1.0`); its tables are prefixed `p_<name with - → _>__`
//!   ([`table_prefix`](plugin::table_prefix)).
//! - [`route`] — a route is a [`Method`](route::Method) and a path template relative to the
//!   plugin (`/tokens/{id}`), served under `/api/v1/p/<plugin>`; `{param}` captures only,
//!   no wildcards.
//! - [`scope`] — a middleware's path scope is a served path or a prefix ending in `/*`; by
//!   default its plugin's own prefix.
//! - [`sql`] — every statement of a migration that creates, alters, drops, renames, indexes
//!   or writes a table targets the plugin's own prefix; `REFERENCES` to core tables is
//!   fine, touching another plugin's tables is not; a few statement kinds (schemas,
//!   privileges, transaction control, …) are forbidden outright.
//! - [`event`] — an event is named `<publisher>.<event>` in kebab-case
//!   (`worker-token.token-created`), the event part derived from its Rust type name; the
//!   server publishes as `core`, a name no plugin may take.
//! - [`task`] — a periodic task's interval is a duration such as `30s` or `1h30m`, at
//!   least 100 ms.
//! - [`checksum`](mod@checksum) — a migration is fingerprinted by the SHA-256 of its exact
//!   text.
//!
//! ```
//! use flovyn_naming::{plugin, route, sql};
//!
//! plugin::validate_plugin_name("worker-token").unwrap();
//! let path = route::RoutePath::parse("/tokens/{id}").unwrap();
//! assert_eq!(route::served_path("worker-token", &path), "/api/v1/p/worker-token/tokens/{id}");
//!
//! let errors = sql::check_migration(
//!     "worker-token",
//!     "CREATE TABLE p_audit_log__events (id TEXT)",
//!     sql::Dialect::Postgres,
//! )
//! .unwrap_err();
//! assert!(errors[0].to_string().contains("belongs to another plugin (`audit_log`)"));
//! ```

pub mod checksum;
pub mod event;
pub mod plugin;
pub mod route;
pub mod scope;
pub mod sql;
pub mod task;

mod text;
