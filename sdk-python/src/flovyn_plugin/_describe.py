"""The plugin's descriptor (``descriptor.proto``), derived from its FastAPI app.

Each ``APIRoute`` becomes one route per method: its path relative to the plugin's prefix,
its handler (the endpoint's name), its access rule (``permission(…)``/``public``, else any
authenticated caller) and the OpenAPI operation FastAPI documents for it, with the shared
``ErrorBody`` in place of FastAPI's own validation-error schemas. The host adds the
operationId, the tag, the security requirement and the 401/403 responses, then checks the
whole descriptor with the same naming rules a Rust plugin meets at compile time.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from flovyn.plugin.v1 import descriptor_pb2 as dpb

from ._access import access_of
from ._errors import ERROR_BODY_REF, ERROR_SCHEMAS

if TYPE_CHECKING:
    from ._plugin import Plugin

#: The descriptor's form (``flovyn_descriptor::FORMAT_VERSION``).
FORMAT_VERSION = 1

_FASTAPI_VALIDATION = {"HTTPValidationError", "ValidationError"}
_METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def describe(plugin: Plugin[Any]) -> dpb.PluginDescriptor:
    """The whole descriptor; ``ValueError`` names a route whose access is declared twice."""
    routes = [r for r in plugin.app.routes if isinstance(r, APIRoute)]
    document = get_openapi(
        title=plugin.name, version=plugin.version, openapi_version="3.1.0", routes=routes
    )
    paths: dict[str, Any] = document.get("paths", {})
    schemas: dict[str, Any] = dict(document.get("components", {}).get("schemas", {}))
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)

    descriptor = dpb.PluginDescriptor(
        name=plugin.name,
        version=plugin.version,
        description=plugin.description,
        depends_on=list(plugin.depends_on),
    )
    for m in sorted(plugin.migrations, key=lambda m: m.version):
        descriptor.migrations.append(
            dpb.Migration(version=m.version, name=m.name, postgres=m.postgres, sqlite=m.sqlite)
        )
    uses_errors = False
    for route in routes:
        methods = sorted(route.methods or (), key=_method_rank)
        for method in methods:
            where = f"route `{method} {route.path_format}` of plugin `{plugin.name}`"
            access = access_of(list(route.dependencies), where)
            operation = dict(paths.get(route.path_format, {}).get(method.lower(), {}))
            uses_errors |= _tidy(operation, route)
            rule = dpb.Access()
            if access.kind == "public":
                rule.public = True
            elif access.kind == "permission":
                rule.permission = access.permission or ""
            else:
                rule.authenticated = True
            descriptor.routes.append(
                dpb.Route(
                    method=method,
                    path=route.path_format,
                    handler=route.name,
                    access=rule,
                    operation_json=json.dumps(operation),
                )
            )
    descriptor.events.extend(plugin.publishes)
    for s in plugin.subscriptions:
        descriptor.subscriptions.append(dpb.Subscription(event=s.event, handler=s.handler.__name__))
    for t in plugin.tasks:
        descriptor.tasks.append(dpb.Task(name=t.name, every=t.every))
    if uses_errors:
        schemas.update(ERROR_SCHEMAS)
    descriptor.schemas_json = json.dumps(schemas)
    config = plugin.schema_of_config()
    if config is not None:
        schema, named = config
        descriptor.config.CopyFrom(
            dpb.ConfigSchema(schema_json=json.dumps(schema), schemas_json=json.dumps(named))
        )
    return descriptor


def _method_rank(method: str) -> int:
    return _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)


def _tidy(operation: dict[str, Any], route: APIRoute) -> bool:
    """Makes FastAPI's operation read like a Rust plugin's; whether it refers to
    ``ErrorBody``."""
    # The host names and tags every operation itself.
    operation.pop("operationId", None)
    operation.pop("tags", None)
    # As in Rust: the docstring's first line is the summary, the rest the description.
    doc = (route.description or "").strip()
    if doc and route.summary is None:
        first, _, rest = doc.partition("\n\n")
        operation["summary"] = " ".join(first.split())
        if rest.strip():
            operation["description"] = rest.strip()
        else:
            operation.pop("description", None)
    responses: dict[str, Any] = operation.get("responses", {})
    # FastAPI documents a handler returning a bare `Response` with the schema `{}` (any
    # value); OpenAPI says that by giving no schema, which is what the server reads.
    for holder in [*responses.values(), operation.get("requestBody", {})]:
        for media in holder.get("content", {}).values():
            if media.get("schema") == {}:
                del media["schema"]
    uses_errors = False
    if "422" in responses:
        responses["422"] = _error_response("The request does not match the schema")
        uses_errors = True
    if "requestBody" in operation:
        # What a body can meet before the handler: FastAPI's parser, the server's size limit.
        responses.setdefault("400", _error_response("The request body is not valid JSON"))
        responses.setdefault("413", _error_response("The request body is too large"))
        uses_errors = True
    for response in responses.values():
        content = response.get("content", {}).get("application/json", {})
        if content.get("schema", {}).get("$ref") == ERROR_BODY_REF:
            uses_errors = True
    return uses_errors


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}},
    }
