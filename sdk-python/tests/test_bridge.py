"""One ``Handle`` call through the ASGI bridge, as the host makes it: the full served path,
the caller as JSON, the body whole; the response in parts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.responses import StreamingResponse

from flovyn.plugin.v1 import plugin_pb2 as pb
from flovyn_plugin import Plugin, public
from flovyn_plugin._asgi import PART_BYTES, handle

PREFIX = "/api/v1/p/notes"


def call(plugin: Plugin[Any], request: pb.HttpRequest) -> list[pb.HttpResponsePart]:
    async def collect() -> list[pb.HttpResponsePart]:
        return [p async for p in handle(plugin.app, request, PREFIX, plugin.name)]

    return asyncio.run(collect())


def test_a_request_reaches_its_route_under_the_prefix(plugin: Plugin[Any]) -> None:
    parts = call(
        plugin,
        pb.HttpRequest(method="GET", path=f"{PREFIX}/hello", query="name=Ada", request_id="r1"),
    )
    assert len(parts) == 1 and parts[0].last
    assert parts[0].head.status == 200
    headers = {h.name: h.value for h in parts[0].head.headers}
    assert headers["content-type"] == b"application/json"
    assert json.loads(parts[0].body) == {"message": "hello, Ada"}


def test_the_caller_and_the_body_come_through(plugin: Plugin[Any]) -> None:
    identity = {
        "principal_id": "admin",
        "principal_type": "admin",
        "tenant": None,
        "roles": ["admin"],
        "permissions": ["*"],
    }
    parts = call(
        plugin,
        pb.HttpRequest(
            method="POST",
            path=f"{PREFIX}/notes",
            headers=[pb.Header(name="content-type", value=b"application/json")],
            body=b'{"id": "7", "title": "seven"}',
            identity_json=json.dumps(identity),
        ),
    )
    assert parts[0].head.status == 201
    assert json.loads(b"".join(p.body for p in parts)) == {"id": "7", "title": "seven"}


def test_an_unhandled_exception_is_a_500_part(plugin: Plugin[Any], capsys: Any) -> None:
    parts = call(plugin, pb.HttpRequest(method="GET", path=f"{PREFIX}/boom", request_id="r9"))
    assert parts[0].head.status == 500
    assert json.loads(b"".join(p.body for p in parts)) == {
        "error": {"code": "internal", "message": "internal error (request id r9)"}
    }
    assert "RuntimeError: the handler failed" in capsys.readouterr().err


def test_a_large_streamed_body_comes_in_parts_below_the_limit() -> None:
    plugin: Plugin[Any] = Plugin(name="notes", version="0.1.0")
    chunk = b"x" * (PART_BYTES + 5)

    @plugin.app.get("/stream", dependencies=[public])
    async def stream() -> StreamingResponse:
        async def body() -> Any:
            for _ in range(3):
                yield chunk

        return StreamingResponse(body(), media_type="application/octet-stream")

    parts = call(plugin, pb.HttpRequest(method="GET", path=f"{PREFIX}/stream"))
    assert parts[0].head.status == 200
    assert [p.HasField("head") for p in parts].count(True) == 1
    assert all(len(p.body) <= PART_BYTES for p in parts)
    assert [p.last for p in parts] == [False] * (len(parts) - 1) + [True]
    assert b"".join(p.body for p in parts) == chunk * 3
