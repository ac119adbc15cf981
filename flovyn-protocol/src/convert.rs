//! `PluginDescriptor` ⇄ `pb::PluginDescriptor`. Lossless: a descriptor converted to protobuf,
//! encoded, decoded and converted back is equal to the original (tested for every example
//! plugin by the server's tests).

use std::fmt;

use flovyn_descriptor as d;
use flovyn_descriptor::typeless;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pb;

/// A protobuf descriptor that does not read as a descriptor: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| unreachable!("descriptor parts serialize: {e}"))
}

/// A JSON part of the descriptor; `readable` first makes its schemas without `type` readable
/// (`flovyn_descriptor::typeless`).
fn from_json<T: DeserializeOwned>(
    text: &str,
    field: &str,
    readable: fn(&mut serde_json::Value),
) -> Result<T, DecodeError> {
    let error = |e: serde_json::Error| DecodeError::new(format!("`{field}`: {e}"));
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(error)?;
    readable(&mut value);
    serde_json::from_value(value).map_err(error)
}

fn access_to_proto(access: &d::Access) -> pb::Access {
    use pb::access::Rule;
    pb::Access {
        rule: Some(match access {
            d::Access::Public => Rule::Public(true),
            d::Access::Authenticated => Rule::Authenticated(true),
            d::Access::Permission(p) => Rule::Permission(p.clone()),
        }),
    }
}

fn access_from_proto(access: Option<pb::Access>, at: &str) -> Result<d::Access, DecodeError> {
    use pb::access::Rule;
    match access.and_then(|a| a.rule) {
        Some(Rule::Public(true)) => Ok(d::Access::Public),
        Some(Rule::Authenticated(true)) => Ok(d::Access::Authenticated),
        Some(Rule::Permission(p)) => Ok(d::Access::Permission(p)),
        Some(Rule::Public(false) | Rule::Authenticated(false)) | None => Err(DecodeError::new(
            format!("`{at}.access`: expected `public`, `authenticated` or a `permission`"),
        )),
    }
}

/// The protobuf form of `descriptor`.
pub fn descriptor_to_proto(descriptor: &d::PluginDescriptor) -> pb::PluginDescriptor {
    pb::PluginDescriptor {
        name: descriptor.name.clone(),
        version: descriptor.version.clone(),
        description: descriptor.description.clone(),
        depends_on: descriptor.depends_on.clone(),
        migrations: descriptor
            .migrations
            .iter()
            .map(|m| pb::Migration {
                version: m.version,
                name: m.name.clone(),
                postgres: m.postgres.clone(),
                sqlite: m.sqlite.clone(),
            })
            .collect(),
        routes: descriptor
            .routes
            .iter()
            .map(|r| pb::Route {
                method: r.method.as_str().to_owned(),
                path: r.path.clone(),
                handler: r.handler.clone(),
                access: Some(access_to_proto(&r.access)),
                operation_json: json(&r.operation),
            })
            .collect(),
        schemas_json: json(&descriptor.schemas),
        config: descriptor.config.as_ref().map(|c| pb::ConfigSchema {
            schema_json: json(&c.schema),
            schemas_json: json(&c.schemas),
        }),
        events: descriptor.events.clone(),
        subscriptions: descriptor
            .subscriptions
            .iter()
            .map(|s| pb::Subscription {
                event: s.event.clone(),
                handler: s.handler.clone(),
            })
            .collect(),
        tasks: descriptor
            .tasks
            .iter()
            .map(|t| pb::Task {
                name: t.name.clone(),
                every: t.every.clone(),
            })
            .collect(),
        middleware: descriptor
            .middleware
            .iter()
            .map(|m| pb::Middleware {
                name: m.name.clone(),
                priority: m.priority,
                paths: m.paths.clone(),
            })
            .collect(),
        grpc_services: descriptor
            .grpc_services
            .iter()
            .map(|g| pb::GrpcService {
                handler: g.handler.clone(),
                service: g.service.clone(),
                access: Some(access_to_proto(&g.access)),
            })
            .collect(),
        authenticator: descriptor
            .authenticator
            .as_ref()
            .map(|a| pb::SecurityScheme {
                name: a.name.clone(),
                scheme_json: json(&a.scheme),
            }),
        authorizer: descriptor.authorizer,
    }
}

/// The descriptor a protobuf descriptor carries, or the first field that does not read.
pub fn descriptor_from_proto(
    proto: pb::PluginDescriptor,
) -> Result<d::PluginDescriptor, DecodeError> {
    let mut routes = Vec::with_capacity(proto.routes.len());
    for (i, r) in proto.routes.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        routes.push(d::Route {
            method: d::Method::parse(&r.method)
                .map_err(|e| DecodeError::new(format!("`{at}.method`: {e}")))?,
            path: r.path,
            handler: r.handler,
            access: access_from_proto(r.access, &at)?,
            operation: from_json(
                &r.operation_json,
                &format!("{at}.operation_json"),
                typeless::make_readable,
            )?,
        });
    }
    let config = match proto.config {
        Some(c) => Some(d::ConfigSchema {
            schema: from_json(&c.schema_json, "config.schema_json", typeless::schema)?,
            schemas: from_json(
                &c.schemas_json,
                "config.schemas_json",
                typeless::make_schemas_readable,
            )?,
        }),
        None => None,
    };
    let mut grpc_services = Vec::with_capacity(proto.grpc_services.len());
    for (i, g) in proto.grpc_services.into_iter().enumerate() {
        grpc_services.push(d::GrpcService {
            handler: g.handler,
            service: g.service,
            access: access_from_proto(g.access, &format!("grpc_services[{i}]"))?,
        });
    }
    let authenticator = match proto.authenticator {
        Some(a) => Some(d::SecurityScheme {
            name: a.name,
            scheme: from_json(&a.scheme_json, "authenticator.scheme_json", |_| {})?,
        }),
        None => None,
    };
    let mut descriptor = d::PluginDescriptor::new(proto.name, proto.version);
    descriptor.description = proto.description;
    descriptor.depends_on = proto.depends_on;
    descriptor.migrations = proto
        .migrations
        .into_iter()
        .map(|m| d::Migration {
            version: m.version,
            name: m.name,
            postgres: m.postgres,
            sqlite: m.sqlite,
        })
        .collect();
    descriptor.routes = routes;
    descriptor.schemas = from_json(
        &proto.schemas_json,
        "schemas_json",
        typeless::make_schemas_readable,
    )?;
    descriptor.config = config;
    descriptor.events = proto.events;
    descriptor.subscriptions = proto
        .subscriptions
        .into_iter()
        .map(|s| d::Subscription {
            event: s.event,
            handler: s.handler,
        })
        .collect();
    descriptor.tasks = proto
        .tasks
        .into_iter()
        .map(|t| d::Task {
            name: t.name,
            every: t.every,
        })
        .collect();
    descriptor.middleware = proto
        .middleware
        .into_iter()
        .map(|m| d::Middleware {
            name: m.name,
            priority: m.priority,
            paths: m.paths,
        })
        .collect();
    descriptor.grpc_services = grpc_services;
    descriptor.authenticator = authenticator;
    descriptor.authorizer = proto.authorizer;
    Ok(descriptor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn sample() -> d::PluginDescriptor {
        let wire = serde_json::json!({"format": 1, "plugin": {
            "name": "bookmarks", "version": "1.2.0", "description": "Saves links.",
            "depends_on": ["hello"],
            "migrations": [{"version": 1, "name": "create", "postgres": "CREATE TABLE p_bookmarks__a (id TEXT)",
                            "sqlite": "CREATE TABLE p_bookmarks__a (id TEXT)"}],
            "routes": [{"method": "DELETE", "path": "/items/{id}", "handler": "delete",
                        "access": {"permission": "bookmarks:write"},
                        "operation": {"summary": "Delete.", "responses": {"204": {"description": "Gone"}}}},
                       {"method": "GET", "path": "/about", "handler": "about", "access": "public"}],
            "schemas": {"Item": {"type": "object"}},
            "config": {"schema": {"type": "object", "additionalProperties": false}},
            "events": ["bookmarks.item-saved"],
            "subscriptions": [{"event": "core.tenant-created", "handler": "on_tenant"}],
            "tasks": [{"name": "refresh", "every": "15m"}],
            "middleware": [{"name": "stamp", "priority": -5, "paths": ["/api/v1/p/bookmarks/*"]}],
            "grpc_services": [{"handler": "svc", "service": "flovyn.plugins.bookmarks.v1.Items",
                               "access": "authenticated"}],
            "authenticator": {"name": "bookmark_key", "scheme": {"type": "http", "scheme": "bearer"}},
            "authorizer": true
        }});
        d::PluginDescriptor::from_json(wire).unwrap()
    }

    #[test]
    fn a_descriptor_survives_its_protobuf_bytes() {
        let descriptor = sample();
        let bytes = descriptor_to_proto(&descriptor).encode_to_vec();
        let decoded = pb::PluginDescriptor::decode(bytes.as_slice()).unwrap();
        assert_eq!(descriptor_from_proto(decoded).unwrap(), descriptor);
    }

    #[test]
    fn a_field_that_does_not_read_is_named() {
        let mut proto = descriptor_to_proto(&sample());
        proto.routes[1].method = "FETCH".into();
        let e = descriptor_from_proto(proto).unwrap_err().to_string();
        assert!(
            e.starts_with("`routes[1].method`: unknown HTTP method `FETCH`"),
            "{e}"
        );

        let mut proto = descriptor_to_proto(&sample());
        proto.routes[0].access = None;
        let e = descriptor_from_proto(proto).unwrap_err().to_string();
        assert!(e.starts_with("`routes[0].access`: expected"), "{e}");

        let mut proto = descriptor_to_proto(&sample());
        proto.schemas_json = "{not json".into();
        let e = descriptor_from_proto(proto).unwrap_err().to_string();
        assert!(e.starts_with("`schemas_json`: "), "{e}");
    }

    #[test]
    fn a_describe_answer_of_another_format_is_refused() {
        let mut answer = crate::describe_response(&sample());
        assert_eq!(
            crate::read_describe_response(answer.clone()).unwrap(),
            sample()
        );
        answer.format = 9;
        let e = crate::read_describe_response(answer)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "descriptor format 9 is not supported: this host reads format 1"
        );
    }
}
