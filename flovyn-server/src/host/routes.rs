//! The one route table of the hosted plugins, built from their descriptors alone: every
//! served path with its plugin and each method's access, every gRPC service with its plugin
//! and access. It answers, once per request, the questions the request path asks — which
//! plugin owns this request (metrics, access), which route it is (access), who may call it.
//!
//! axum's router still dispatches a request to its handler (its `Path` extractor needs the
//! parameters axum's own router matched); it is built from the same descriptors.

use std::collections::{BTreeMap, HashMap};

use flovyn_sdk::PluginDescriptor;
use flovyn_sdk::descriptor::{Access, Method};

/// A served path of the plugins' routes, as [`RouteTable::route`] matched it (the methods of
/// one path share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(usize);

impl PathId {
    /// The path's index, from 0 to the number of served paths.
    pub fn index(self) -> usize {
        self.0
    }
}

#[derive(Debug)]
struct ServedPath {
    plugin: &'static str,
    methods: Vec<(Method, &'static Access)>,
}

/// Who owns a request: a hosted plugin, or the server itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A hosted plugin, by name.
    Plugin(&'static str),
    /// The server's own endpoints, and paths under no plugin's prefix.
    Core,
    /// A path or gRPC service in a plugin's namespace whose plugin this server does not host.
    Unknown,
}

/// See the module docs.
#[derive(Debug)]
pub struct RouteTable {
    paths: matchit::Router<usize>,
    served: Vec<ServedPath>,
    plugins: Vec<&'static str>,
    grpc: HashMap<&'static str, (&'static str, &'static Access)>,
}

impl RouteTable {
    /// The table of `plugins`' routes and gRPC services.
    pub fn new(plugins: &[&'static PluginDescriptor]) -> Self {
        let mut by_path: BTreeMap<String, ServedPath> = BTreeMap::new();
        for plugin in plugins.iter().copied() {
            for r in &plugin.routes {
                by_path
                    .entry(plugin.served_path(&r.path))
                    .or_insert_with(|| ServedPath {
                        plugin: &plugin.name,
                        methods: Vec::new(),
                    })
                    .methods
                    .push((r.method, &r.access));
            }
        }
        let mut paths = matchit::Router::new();
        let mut served = Vec::with_capacity(by_path.len());
        for (path, route) in by_path {
            // The templates passed the host's check of each descriptor (no two routes of a
            // plugin clash, and a plugin's paths are under its own prefix): a conflict here is
            // a bug in the server.
            if let Err(e) = paths.insert(&path, served.len()) {
                panic!("plugin route `{path}` cannot be matched: {e}");
            }
            served.push(route);
        }
        let grpc = plugins
            .iter()
            .flat_map(|p| {
                p.grpc_services
                    .iter()
                    .map(|g| (g.service.as_str(), (p.name.as_str(), &g.access)))
            })
            .collect();
        Self {
            paths,
            served,
            plugins: plugins.iter().map(|p| p.name.as_str()).collect(),
            grpc,
        }
    }

    /// The served path `path` is one of, if any.
    pub fn route(&self, path: &str) -> Option<PathId> {
        self.paths.at(path).ok().map(|m| PathId(*m.value))
    }

    /// Every served path, by [`PathId`] order.
    pub fn routes(&self) -> impl Iterator<Item = PathId> + '_ {
        (0..self.served.len()).map(PathId)
    }

    /// The plugin serving `route`.
    pub fn plugin_of(&self, route: PathId) -> &'static str {
        self.served[route.0].plugin
    }

    /// Who may call `route` with `method`; `None` when the route does not serve the method.
    /// HEAD is answered by the GET handler, so it is guarded like GET.
    pub fn access(&self, route: PathId, method: Method) -> Option<&'static Access> {
        let methods = &self.served[route.0].methods;
        let find = |m: Method| methods.iter().find(|(mm, _)| *mm == m).map(|(_, a)| *a);
        find(method).or_else(|| {
            (method == Method::Head)
                .then(|| find(Method::Get))
                .flatten()
        })
    }

    /// The plugin a request path belongs to by its prefix (`/api/v1/p/<name>/…`), whether
    /// or not one of its routes matches.
    pub fn owner_of_path(&self, path: &str) -> Owner {
        let Some(rest) = path
            .strip_prefix(flovyn_naming::route::PLUGIN_API_PREFIX)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Owner::Core;
        };
        let name = rest.split('/').next().unwrap_or_default();
        match self.plugins.iter().find(|p| **p == name) {
            Some(plugin) => Owner::Plugin(plugin),
            None if name.is_empty() => Owner::Core,
            None => Owner::Unknown,
        }
    }

    /// The gRPC service a call path (`/<package>.<Service>/<Method>`) names: its plugin and
    /// who may call it.
    pub fn grpc_service(&self, path: &str) -> Option<(&'static str, &'static Access)> {
        let service = path.strip_prefix('/')?.split('/').next()?;
        self.grpc.get(service).copied()
    }

    /// The plugin a gRPC call path belongs to: the one serving the service, or else the
    /// hosted plugin whose package (`flovyn.plugins.<plugin>.v1`) the service is in.
    pub fn owner_of_grpc(&self, path: &str) -> Owner {
        if let Some((plugin, _)) = self.grpc_service(path) {
            return Owner::Plugin(plugin);
        }
        let package = path
            .strip_prefix("/flovyn.plugins.")
            .and_then(|rest| rest.split_once(".v1."))
            .map(|(underscored, _)| underscored);
        match package.and_then(|p| {
            self.plugins
                .iter()
                .find(|name| flovyn_naming::plugin::underscored(name) == p)
        }) {
            Some(plugin) => Owner::Plugin(plugin),
            None => Owner::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: serde_json::Value) -> &'static PluginDescriptor {
        let wire = serde_json::json!({"format": 1, "plugin": json});
        Box::leak(Box::new(PluginDescriptor::from_json(wire).unwrap()))
    }

    #[test]
    fn one_table_answers_route_owner_and_access() {
        let notes = plugin(serde_json::json!({
            "name": "notes", "version": "0.1.0",
            "routes": [
                {"method": "GET", "path": "/notes/{id}", "handler": "get", "access": "authenticated"},
                {"method": "DELETE", "path": "/notes/{id}", "handler": "delete",
                 "access": {"permission": "notes:delete"}}
            ],
            "grpc_services": [{"handler": "svc", "service": "flovyn.plugins.notes.v1.Notes",
                               "access": "authenticated"}]
        }));
        let table = RouteTable::new(&[notes]);
        let id = table.route("/api/v1/p/notes/notes/7").unwrap();
        assert_eq!(table.routes().count(), 1, "two methods, one served path");
        assert_eq!(table.plugin_of(id), "notes");
        assert_eq!(table.access(id, Method::Head), Some(&Access::Authenticated));
        assert_eq!(
            table.access(id, Method::Delete),
            Some(&Access::Permission("notes:delete".into()))
        );
        assert_eq!(table.access(id, Method::Post), None);
        assert_eq!(
            table.owner_of_path("/api/v1/p/notes/nothing"),
            Owner::Plugin("notes")
        );
        assert_eq!(table.owner_of_path("/api/v1/p/other/x"), Owner::Unknown);
        assert_eq!(table.owner_of_path("/_/health"), Owner::Core);
        assert_eq!(
            table.owner_of_grpc("/flovyn.plugins.notes.v1.Notes/Get"),
            Owner::Plugin("notes")
        );
        assert_eq!(
            table.owner_of_grpc("/flovyn.plugins.notes.v1.Other/Get"),
            Owner::Plugin("notes"),
            "an unserved service in a hosted plugin's package"
        );
        assert_eq!(table.owner_of_grpc("/acme.v1.Thing/Do"), Owner::Unknown);
    }
}
