"""One ``Handle`` call as one ASGI call on the plugin's app.

The host's request (already authenticated and authorised, body whole) becomes an ASGI
``http`` scope with ``root_path`` = the plugin's prefix, so the app routes on the path it
declared; the caller and the request id ride in the scope. The app's response streams back
as ``HttpResponsePart``s: the first carries the status and headers, each a piece of the body
below gRPC's message limit, the last says so. A client that goes away (the call is
cancelled) reaches the app as ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from flovyn.plugin.v1 import plugin_pb2 as pb

from ._access import IDENTITY_SCOPE_KEY, Identity
from ._errors import error_body, report

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

#: The largest body piece in one part (gRPC's default message limit is 4 MiB).
PART_BYTES = 1 << 20


def scope_of(request: pb.HttpRequest, prefix: str) -> Scope:
    identity = (
        Identity.model_validate_json(request.identity_json)
        if request.HasField("identity_json")
        else None
    )
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": prefix,
        "query_string": request.query.encode(),
        "headers": [(h.name.lower().encode(), h.value) for h in request.headers],
        "client": None,
        "server": None,
        "state": {},
        IDENTITY_SCOPE_KEY: identity,
        "flovyn.request_id": request.request_id,
    }


async def handle(
    app: App, request: pb.HttpRequest, prefix: str, plugin: str
) -> AsyncIterator[pb.HttpResponsePart]:
    """Runs ``request`` through ``app``; yields the response's parts."""
    parts: asyncio.Queue[Message | BaseException | None] = asyncio.Queue()
    body_sent = False
    gone = asyncio.Event()

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        await parts.put(message)

    async def run() -> None:
        try:
            await app(scope_of(request, prefix), receive, send)
        except BaseException as e:  # handed to the reader, which answers or re-raises
            await parts.put(e)
        else:
            await parts.put(None)

    task = asyncio.create_task(run())
    head: pb.HttpResponseHead | None = None
    head_sent = False
    try:
        while True:
            item = await parts.get()
            if isinstance(item, BaseException) or item is None:
                if not head_sent:
                    error = item or RuntimeError("the app returned without a complete response")
                    yield _internal_error(error, request, plugin)
                elif isinstance(item, BaseException) and not isinstance(item, Exception):
                    raise item
                return
            if item["type"] == "http.response.start":
                head = pb.HttpResponseHead(
                    status=int(item["status"]),
                    headers=[
                        pb.Header(name=bytes(n).decode("latin-1"), value=bytes(v))
                        for n, v in item.get("headers", [])
                    ],
                )
                continue
            if item["type"] != "http.response.body" or head is None:
                continue
            body = bytes(item.get("body", b""))
            more = bool(item.get("more_body", False))
            pieces = [body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES)] or [b""]
            for n, piece in enumerate(pieces):
                part = pb.HttpResponsePart(body=piece, last=not more and n == len(pieces) - 1)
                if not head_sent:
                    part.head.CopyFrom(head)
                    head_sent = True
                yield part
            if not more:
                return
    finally:
        gone.set()
        if not task.done():
            task.cancel()


def _internal_error(
    error: BaseException, request: pb.HttpRequest, plugin: str
) -> pb.HttpResponsePart:
    rid = request.request_id or "none"
    where = f"{request.method} {request.path} (request id {rid})"
    report(plugin, f"unhandled exception in {where}", error)
    body = json.dumps(error_body("internal", f"internal error (request id {rid})")).encode()
    return pb.HttpResponsePart(
        head=pb.HttpResponseHead(
            status=500, headers=[pb.Header(name="content-type", value=b"application/json")]
        ),
        body=body,
        last=True,
    )
