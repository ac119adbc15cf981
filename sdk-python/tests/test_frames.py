"""``Handle`` as frames, as the host speaks it: a length-prefixed ``HandleFrame`` per frame on
the plugin's second socket; a streamed answer within the call's credit; ``cancel``."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi.responses import StreamingResponse

from flovyn.plugin.v1 import frames_pb2 as fpb
from flovyn.plugin.v1 import plugin_pb2 as pb
from flovyn_plugin import Plugin, public
from flovyn_plugin._frames import INITIAL_CREDIT, serve

PREFIX = "/api/v1/p/notes"
CHUNK = 256 * 1024


class Host:
    """The host's end of one frames connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, frame: fpb.HandleFrame) -> None:
        data = frame.SerializeToString()
        self.writer.write(struct.pack(">I", len(data)) + data)

    def start(self, call: int, path: str) -> None:
        request = pb.HttpRequest(method="GET", path=f"{PREFIX}{path}", request_id=f"r{call}")
        self.send(fpb.HandleFrame(call=call, start=fpb.HandleStart(request=request)))

    async def next(self, wait: float = 5.0) -> fpb.HandleFrame:
        (length,) = struct.unpack(">I", await asyncio.wait_for(self.reader.readexactly(4), wait))
        frame = fpb.HandleFrame()
        frame.ParseFromString(await self.reader.readexactly(length))
        return frame


def streaming_plugin(stopped: asyncio.Event) -> Plugin[Any]:
    plugin: Plugin[Any] = Plugin(name="notes", version="0.1.0")

    @plugin.app.get("/hello", dependencies=[public])
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    @plugin.app.get("/stream", dependencies=[public])
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                for _ in range(16):
                    yield b"x" * CHUNK
            finally:
                stopped.set()

        return StreamingResponse(body(), media_type="application/octet-stream")

    return plugin


async def connected(tmp: Path, plugin: Plugin[Any]) -> tuple[asyncio.AbstractServer, Host]:
    socket = tmp / "notes.handle.sock"
    server = await serve(socket, plugin.app, PREFIX, plugin.name)
    assert socket.stat().st_mode & 0o777 == 0o600
    reader, writer = await asyncio.open_unix_connection(str(socket))
    return server, Host(reader, writer)


def test_a_whole_answer_is_one_last_part(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, host = await connected(tmp_path, streaming_plugin(asyncio.Event()))
        host.start(7, "/hello")
        frame = await host.next()
        assert frame.call == 7 and frame.WhichOneof("kind") == "part"
        assert frame.part.head.status == 200 and frame.part.last
        assert json.loads(frame.part.body) == {"message": "hello"}
        host.writer.close()
        server.close()

    asyncio.run(scenario())


def test_a_streamed_answer_waits_for_credit_and_a_cancel_stops_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        stopped = asyncio.Event()
        server, host = await connected(tmp_path, streaming_plugin(stopped))
        host.start(1, "/stream")
        received = 0
        first = await host.next()
        assert first.part.head.status == 200 and not first.part.last
        received += len(first.part.body)
        # Beyond the first part, no more than the initial credit without a grant.
        while True:
            try:
                frame = await host.next(wait=0.5)
            except TimeoutError:
                break
            assert frame.call == 1 and not frame.part.last
            received += len(frame.part.body)
        assert len(first.part.body) + INITIAL_CREDIT >= received >= INITIAL_CREDIT

        # Another call is answered meanwhile.
        host.start(2, "/hello")
        other = await host.next()
        assert other.call == 2 and other.part.last

        # A grant lets exactly that much more through.
        host.send(fpb.HandleFrame(call=1, credit=fpb.HandleCredit(bytes=CHUNK)))
        more = await host.next()
        assert more.call == 1 and len(more.part.body) == CHUNK

        # Cancelled: the app's stream is closed, nothing more comes for the call.
        host.send(fpb.HandleFrame(call=1, cancel=fpb.HandleCancel()))
        await asyncio.wait_for(stopped.wait(), 5)
        host.send(fpb.HandleFrame(call=1, credit=fpb.HandleCredit(bytes=16 * CHUNK)))
        host.start(3, "/hello")
        after = await host.next()
        assert after.call == 3 and after.part.last
        host.writer.close()
        server.close()

    asyncio.run(scenario())


def test_the_host_closing_the_connection_stops_its_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        stopped = asyncio.Event()
        server, host = await connected(tmp_path, streaming_plugin(stopped))
        host.start(1, "/stream")
        await host.next()
        host.writer.close()
        await asyncio.wait_for(stopped.wait(), 5)
        server.close()

    asyncio.run(scenario())
