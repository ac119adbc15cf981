"""The descriptor the host receives, derived from the app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flovyn.plugin.v1 import descriptor_pb2 as dpb
from flovyn_plugin import Plugin, permission, public
from flovyn_plugin._describe import describe
from flovyn_plugin._errors import ERROR_SCHEMAS


def routes(plugin: Plugin[Any]) -> dict[str, dpb.Route]:
    return {f"{r.method} {r.path}": r for r in describe(plugin).routes}


def test_identity_migrations_and_routes(plugin: Plugin[Any]) -> None:
    d = describe(plugin)
    assert (d.name, d.version, d.description) == ("notes", "0.1.0", "Notes.")
    assert [(m.version, m.name) for m in d.migrations] == [(1, "create_notes")]
    assert d.migrations[0].sqlite == d.migrations[0].postgres
    assert list(routes(plugin)) == [
        "GET /hello",
        "GET /me",
        "POST /notes",
        "GET /notes/{note_id}",
        "GET /boom",
    ]


def test_access_rules(plugin: Plugin[Any]) -> None:
    r = routes(plugin)
    assert r["GET /hello"].access.WhichOneof("rule") == "public"
    assert r["GET /me"].access.WhichOneof("rule") == "authenticated"
    assert r["POST /notes"].access.permission == "notes:write"
    assert r["GET /notes/{note_id}"].handler == "get_note"


def test_operation_reads_like_a_rust_plugin(plugin: Plugin[Any]) -> None:
    op = json.loads(routes(plugin)["GET /hello"].operation_json)
    assert op["summary"] == "Greet someone."
    assert op["description"] == "Public: needs no credentials."
    assert "operationId" not in op and "tags" not in op
    assert op["parameters"][0]["name"] == "name"
    created = json.loads(routes(plugin)["POST /notes"].operation_json)
    assert created["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Note"
    }
    assert "201" in created["responses"]
    for status in ("400", "413"):
        assert created["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }, status
    assert created["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


def test_schemas_share_the_servers_error_body(plugin: Plugin[Any]) -> None:
    schemas = json.loads(describe(plugin).schemas_json)
    assert schemas["ErrorBody"] == ERROR_SCHEMAS["ErrorBody"]
    assert schemas["ErrorDetail"] == ERROR_SCHEMAS["ErrorDetail"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Note"]["properties"]["title"]["maxLength"] == 200


def test_config_schema(plugin: Plugin[Any]) -> None:
    config = describe(plugin).config
    schema = json.loads(config.schema_json)
    assert schema["properties"]["limit"]["minimum"] == 1
    assert schema["properties"]["limit"]["maximum"] == 100
    assert json.loads(config.schemas_json) == {}


def test_access_declared_twice_is_refused() -> None:
    plugin: Plugin[Any] = Plugin(name="twice", version="0.1.0")

    @plugin.app.get("/x", dependencies=[public, permission("twice:read")])
    async def x() -> None:
        return None

    with pytest.raises(
        ValueError, match=r"route `GET /x` of plugin `twice` declares its access 2 times"
    ):
        describe(plugin)


def test_a_migration_needs_sql_for_both_databases() -> None:
    plugin: Plugin[Any] = Plugin(name="half", version="0.1.0")
    with pytest.raises(ValueError, match=r"migration 1 `only_pg` of plugin `half` needs"):
        plugin.migration(1, "only_pg", postgres="CREATE TABLE p_half__x (id INT)")


def test_config_unknown_keys_and_bad_values_are_named(plugin: Plugin[Any]) -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown key `colour` in `\[plugins.notes\]`; expected `greeting`, `limit`",
    ):
        plugin.configure('{"colour": "red"}')
    with pytest.raises(ValueError, match="limit"):
        plugin.configure('{"limit": 0}')
    plugin.configure('{"limit": 3}')
    assert plugin.config.limit == 3


def test_documented_error_responses_use_the_shared_body() -> None:
    from flovyn_plugin import error_responses

    plugin: Plugin[Any] = Plugin(name="docs", version="0.1.0")

    @plugin.app.get("/things/{id}", dependencies=[public], responses=error_responses(404, 409))
    async def thing(id: str) -> dict[str, str]:
        return {"id": id}

    d = describe(plugin)
    op = json.loads(d.routes[0].operation_json)
    assert op["responses"]["404"] == {
        "description": "Not Found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    assert op["responses"]["409"]["description"] == "Conflict"
    assert "ErrorBody" in json.loads(d.schemas_json)
