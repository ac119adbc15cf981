//! The host's check of a descriptor: the rules of `flovyn-naming`, which the macros apply at
//! compile time, applied to data — for a plugin built elsewhere, in another language, or
//! sent over a wire. Every broken rule is reported, each message naming the offending entry.

use std::collections::BTreeSet;
use std::fmt;

use flovyn_naming::route::RoutePath;
use flovyn_naming::{event, plugin, scope, sql, task};

use crate::{Access, Dialect, PluginDescriptor};

/// What is wrong with a descriptor (one broken rule), or with its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorError {
    message: String,
}

impl DescriptorError {
    pub(crate) fn wire(message: String) -> Self {
        Self { message }
    }

    fn at(entry: impl fmt::Display, message: impl fmt::Display) -> Self {
        Self {
            message: format!("{entry}: {message}"),
        }
    }

    /// The message, as shown to the operator.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DescriptorError {}

impl PluginDescriptor {
    /// Checks every naming rule: the plugin's name and version, its dependencies, each
    /// migration (name, order, and its SQL under both dialects), route (path, permission,
    /// no two alike), event, subscription, task interval, middleware scope and gRPC package.
    /// Returns every broken rule at once.
    pub fn check(&self) -> Result<(), Vec<DescriptorError>> {
        self.check_with(true)
    }

    /// [`check`](Self::check) without parsing the migrations' SQL, the one costly part
    /// (tens of microseconds a statement): for a descriptor whose SQL was checked already —
    /// by the macros at compile time, or by [`check`](Self::check) when it arrived.
    pub fn check_names(&self) -> Result<(), Vec<DescriptorError>> {
        self.check_with(false)
    }

    fn check_with(&self, sql: bool) -> Result<(), Vec<DescriptorError>> {
        let mut errors = Vec::new();
        let mut push = |e: DescriptorError| errors.push(e);
        let name_ok = match plugin::validate_plugin_name(&self.name) {
            Ok(()) => true,
            Err(e) => {
                push(DescriptorError::at("name", e));
                false
            }
        };
        if let Err(e) = plugin::validate_version(&self.version) {
            push(DescriptorError::at("version", e));
        }
        let mut seen = BTreeSet::new();
        for dep in &self.depends_on {
            if let Err(e) = plugin::validate_plugin_name(dep) {
                push(DescriptorError::at("depends_on", e));
            } else if *dep == self.name {
                push(DescriptorError::at(
                    "depends_on",
                    format!("plugin `{dep}` cannot depend on itself"),
                ));
            } else if !seen.insert(dep) {
                push(DescriptorError::at(
                    "depends_on",
                    format!("`{dep}` is listed twice"),
                ));
            }
        }
        self.check_migrations(name_ok && sql, &mut push);
        self.check_routes(&mut push);
        self.check_events(name_ok, &mut push);
        self.check_tasks(&mut push);
        self.check_middleware(&mut push);
        self.check_grpc(name_ok, &mut push);
        if let Some(scheme) = &self.authenticator
            && scheme.name.is_empty()
        {
            push(DescriptorError::at(
                "authenticator",
                "the security scheme needs a name",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn check_migrations(&self, check_sql: bool, push: &mut impl FnMut(DescriptorError)) {
        let mut last = 0;
        for m in &self.migrations {
            let at = format!("migration {} `{}`", m.version, m.name);
            if let Err(e) = plugin::validate_migration_name(&m.name) {
                push(DescriptorError::at(&at, e));
            }
            if m.version <= last {
                push(DescriptorError::at(
                    &at,
                    format!(
                        "migration versions must be positive and strictly increasing: {} comes after {last}",
                        m.version
                    ),
                ));
            }
            last = last.max(m.version);
            if !check_sql {
                continue;
            }
            for dialect in [Dialect::Postgres, Dialect::Sqlite] {
                if let Err(violations) = sql::check_migration(&self.name, m.sql(dialect), dialect) {
                    for v in violations {
                        push(DescriptorError::at(format!("{at} ({})", dialect.name()), v));
                    }
                }
            }
        }
    }

    fn check_routes(&self, push: &mut impl FnMut(DescriptorError)) {
        let mut parsed: Vec<(usize, RoutePath)> = Vec::new();
        let mut handlers = BTreeSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("route {} {}", r.method.as_str(), r.path);
            match RoutePath::parse(&r.path) {
                Ok(path) => {
                    let clash = parsed.iter().find(|(j, other)| {
                        self.routes[*j].method == r.method
                            && flovyn_naming::route::conflicts(other, &path)
                    });
                    if let Some((j, _)) = clash {
                        push(DescriptorError::at(
                            &at,
                            format!(
                                "conflicts with `{} {}`: a request could match both",
                                self.routes[*j].method.as_str(),
                                self.routes[*j].path
                            ),
                        ));
                    }
                    parsed.push((i, path));
                }
                Err(e) => push(DescriptorError::at(&at, e)),
            }
            if !is_identifier(&r.handler) {
                push(DescriptorError::at(
                    &at,
                    format!(
                        "handler `{}` must be an identifier (letters, digits and `_`)",
                        r.handler
                    ),
                ));
            } else if !handlers.insert(&r.handler) {
                push(DescriptorError::at(
                    &at,
                    format!(
                        "handler `{}` serves another route too: operationIds must be unique",
                        r.handler
                    ),
                ));
            }
            if let Access::Permission(p) = &r.access
                && let Err(e) = plugin::validate_permission(p)
            {
                push(DescriptorError::at(&at, e));
            }
        }
    }

    fn check_events(&self, name_ok: bool, push: &mut impl FnMut(DescriptorError)) {
        for e in &self.events {
            let at = format!("event `{e}`");
            if let Err(err) = event::validate_event_name(e) {
                push(DescriptorError::at(&at, err));
            } else if name_ok && event::publisher(e) != Some(self.name.as_str()) {
                push(DescriptorError::at(
                    &at,
                    format!(
                        "a plugin publishes only its own events, named `{}.<event>`",
                        self.name
                    ),
                ));
            }
        }
        for s in &self.subscriptions {
            if let Err(err) = event::validate_event_name(&s.event) {
                push(DescriptorError::at(
                    format!("subscription `{}`", s.handler),
                    err,
                ));
            }
        }
    }

    fn check_tasks(&self, push: &mut impl FnMut(DescriptorError)) {
        let mut names = BTreeSet::new();
        for t in &self.tasks {
            let at = format!("task `{}`", t.name);
            if let Err(e) = task::parse_interval(&t.every) {
                push(DescriptorError::at(&at, e));
            }
            if !is_identifier(&t.name) {
                push(DescriptorError::at(
                    &at,
                    "a task's name must be an identifier (letters, digits and `_`)",
                ));
            } else if !names.insert(&t.name) {
                push(DescriptorError::at(&at, "declared twice"));
            }
        }
    }

    fn check_middleware(&self, push: &mut impl FnMut(DescriptorError)) {
        let mut names = BTreeSet::new();
        for m in &self.middleware {
            let at = format!("middleware `{}`", m.name);
            for path in &m.paths {
                if let Err(e) = scope::Scope::parse(path) {
                    push(DescriptorError::at(&at, e));
                }
            }
            if !names.insert(&m.name) {
                push(DescriptorError::at(&at, "declared twice"));
            }
        }
    }

    fn check_grpc(&self, name_ok: bool, push: &mut impl FnMut(DescriptorError)) {
        let mut services = BTreeSet::new();
        for g in &self.grpc_services {
            let at = format!("gRPC service `{}`", g.service);
            if name_ok && !plugin::in_grpc_package(&g.service, &self.name) {
                push(DescriptorError::at(
                    &at,
                    format!(
                        "not in the plugin's protobuf package `{}`",
                        plugin::grpc_package(&self.name)
                    ),
                ));
            }
            if g.access == Access::Public {
                push(DescriptorError::at(&at, "a gRPC service cannot be public"));
            }
            if let Access::Permission(p) = &g.access
                && let Err(e) = plugin::validate_permission(p)
            {
                push(DescriptorError::at(&at, e));
            }
            if !services.insert(&g.service) {
                push(DescriptorError::at(&at, "declared twice"));
            }
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GrpcService, Method, Migration, Route, Task};

    fn messages(d: &PluginDescriptor) -> Vec<String> {
        d.check()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn route(method: Method, path: &str, handler: &str, access: Access) -> Route {
        Route {
            method,
            path: path.into(),
            handler: handler.into(),
            access,
            operation: Default::default(),
        }
    }

    fn migration(version: u32, name: &str, sql: &str) -> Migration {
        Migration {
            version,
            name: name.into(),
            postgres: sql.into(),
            sqlite: sql.into(),
        }
    }

    #[test]
    fn a_valid_descriptor_passes() {
        let mut d = PluginDescriptor::new("bookmarks", "0.1.0");
        d.migrations.push(migration(
            1,
            "create",
            "CREATE TABLE p_bookmarks__items (id TEXT)",
        ));
        d.routes.push(route(
            Method::Get,
            "/items/{id}",
            "get",
            Access::Permission("bookmarks:read".into()),
        ));
        d.routes.push(route(
            Method::Post,
            "/items",
            "create",
            Access::Authenticated,
        ));
        d.events.push("bookmarks.item-created".into());
        d.tasks.push(Task {
            name: "prune".into(),
            every: "1h".into(),
        });
        assert_eq!(messages(&d), Vec::<String>::new());
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_entry() {
        let mut d = PluginDescriptor::new("Bookmarks", "1.0");
        d.depends_on.push("bookmarks_2".into());
        d.routes
            .push(route(Method::Get, "/items/:id", "get", Access::Public));
        d.tasks.push(Task {
            name: "prune".into(),
            every: "10ms".into(),
        });
        let all = messages(&d);
        assert_eq!(all.len(), 5, "{all:#?}");
        assert!(
            all[0].starts_with("name: plugin name `Bookmarks`"),
            "{all:#?}"
        );
        assert!(all[1].starts_with("version: version `1.0`"), "{all:#?}");
        assert!(all[2].starts_with("depends_on: "), "{all:#?}");
        assert!(all[3].starts_with("route GET /items/:id: "), "{all:#?}");
        assert!(all[4].starts_with("task `prune`: "), "{all:#?}");
    }

    #[test]
    fn migration_sql_is_checked_under_both_dialects_against_the_table_prefix() {
        let mut d = PluginDescriptor::new("bookmarks", "0.1.0");
        d.migrations
            .push(migration(1, "create", "CREATE TABLE items (id TEXT)"));
        d.migrations.push(migration(1, "again", "SELECT 1"));
        let all = messages(&d);
        assert!(
            all.iter()
                .any(|m| m.starts_with("migration 1 `create` (PostgreSQL): ")
                    && m.contains("p_bookmarks__items")),
            "{all:#?}"
        );
        assert!(
            all.iter()
                .any(|m| m.starts_with("migration 1 `create` (SQLite): ")),
            "{all:#?}"
        );
        assert!(
            all.iter().any(
                |m| m.starts_with("migration 1 `again`: ") && m.contains("strictly increasing")
            ),
            "{all:#?}"
        );
    }

    #[test]
    fn check_names_leaves_only_the_sql_out() {
        let mut d = PluginDescriptor::new("bookmarks", "0.1.0");
        d.migrations
            .push(migration(1, "create", "CREATE TABLE items (id TEXT)"));
        d.migrations.push(migration(1, "Again", "SELECT 1"));
        assert_eq!(messages(&d).len(), 4, "{:#?}", messages(&d));
        let names: Vec<String> = d
            .check_names()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:#?}");
        assert!(names[0].contains("migration name `Again`"), "{names:#?}");
        assert!(names[1].contains("strictly increasing"), "{names:#?}");
    }

    #[test]
    fn routes_that_clash_or_share_a_handler_are_refused() {
        let mut d = PluginDescriptor::new("bookmarks", "0.1.0");
        d.routes
            .push(route(Method::Get, "/items/{id}", "get", Access::Public));
        d.routes
            .push(route(Method::Get, "/items/{key}", "find", Access::Public));
        d.routes
            .push(route(Method::Post, "/items", "get", Access::Public));
        let all = messages(&d);
        assert_eq!(all.len(), 2, "{all:#?}");
        assert!(
            all[0].contains("conflicts with `GET /items/{id}`"),
            "{all:#?}"
        );
        assert!(
            all[1].contains("handler `get` serves another route"),
            "{all:#?}"
        );
    }

    #[test]
    fn events_and_grpc_services_stay_in_the_plugins_namespace() {
        let mut d = PluginDescriptor::new("bookmarks", "0.1.0");
        d.events.push("audit-log.entry-added".into());
        d.grpc_services.push(GrpcService {
            handler: "svc".into(),
            service: "flovyn.plugins.audit_log.v1.Entries".into(),
            access: Access::Public,
        });
        let all = messages(&d);
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(all[0].contains("publishes only its own events"), "{all:#?}");
        assert!(
            all[1].contains("not in the plugin's protobuf package `flovyn.plugins.bookmarks.v1`"),
            "{all:#?}"
        );
        assert!(all[2].contains("cannot be public"), "{all:#?}");
    }
}
