"""``Handle`` as frames on the plugin's second socket (``frames.proto``, decision 0021).

Each frame is a 4-byte big-endian length, then one ``HandleFrame``. The host starts a call
with ``start`` (the request); the call runs as its own task through the same ASGI bridge as
gRPC ``Handle`` (``_asgi.handle``) and answers with ``part``s: the first (the head, and the
body when it was whole) is sent at once, each later one within the call's credit — at most
``INITIAL_CREDIT`` bytes of body the host has not taken, more as it grants ``credit`` — so a
client that does not read holds back only its own call. ``cancel``, or the host closing the
connection, cancels the call's task (the app sees ``http.disconnect``).
"""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

from google.protobuf.message import DecodeError

from flovyn.plugin.v1 import frames_pb2 as fpb
from flovyn.plugin.v1 import plugin_pb2 as pb

from . import _asgi

#: Body bytes a call may send after its first part before the host grants more.
INITIAL_CREDIT = 1 << 20
#: The largest frame either side accepts.
MAX_FRAME_BYTES = 64 << 20
#: gRPC's code for an internal error (the ``error`` frame carries a gRPC status).
_INTERNAL = 13

_LENGTH = struct.Struct(">I")


class _Credit:
    """Body bytes a call may still send before the host grants more."""

    def __init__(self) -> None:
        self.available = INITIAL_CREDIT
        self.granted = asyncio.Event()

    def grant(self, n: int) -> None:
        self.available += n
        self.granted.set()

    async def take(self, n: int) -> None:
        while self.available < n:
            self.granted.clear()
            await self.granted.wait()
        self.available -= n


async def serve(path: Path, app: _asgi.App, prefix: str, plugin: str) -> asyncio.AbstractServer:
    """Listens on ``path`` (only the host may connect: 0600) and serves each connection."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Connection(reader, writer, app, prefix, plugin).run()

    server = await asyncio.start_unix_server(connection, path=str(path))
    os.chmod(path, 0o600)
    return server


class _Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        app: _asgi.App,
        prefix: str,
        plugin: str,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.app = app
        self.prefix = prefix
        self.plugin = plugin
        self.calls: dict[int, tuple[asyncio.Task[None], _Credit]] = {}

    async def run(self) -> None:
        try:
            while True:
                frame = await self._next()
                if frame is None:
                    return
                kind = frame.WhichOneof("kind")
                if kind == "start":
                    credit = _Credit()
                    task = asyncio.create_task(self._call(frame.call, frame.start.request, credit))
                    self.calls[frame.call] = (task, credit)
                elif kind == "cancel":
                    call = self.calls.pop(frame.call, None)
                    if call is not None:
                        call[0].cancel()
                elif kind == "credit":
                    call = self.calls.get(frame.call)
                    if call is not None:
                        call[1].grant(frame.credit.bytes)
                # Frames only the plugin sends, or of a newer kind: nothing to do.
        finally:
            # The host closed the connection (or broke it): nothing in flight has anyone to
            # answer.
            for task, _ in self.calls.values():
                task.cancel()
            self.calls.clear()
            self.writer.close()

    async def _next(self) -> fpb.HandleFrame | None:
        """The next frame; ``None`` when the host closed the connection or broke the framing."""
        try:
            (length,) = _LENGTH.unpack(await self.reader.readexactly(4))
            if length > MAX_FRAME_BYTES:
                return None
            frame = fpb.HandleFrame()
            frame.ParseFromString(await self.reader.readexactly(length))
            return frame
        except (asyncio.IncompleteReadError, ConnectionError, DecodeError):
            return None

    def _send(self, frame: fpb.HandleFrame) -> None:
        data = frame.SerializeToString()
        self.writer.write(_LENGTH.pack(len(data)) + data)

    async def _call(self, call: int, request: pb.HttpRequest, credit: _Credit) -> None:
        try:
            first = True
            async for part in _asgi.handle(self.app, request, self.prefix, self.plugin):
                if not first:
                    await credit.take(len(part.body))
                first = False
                self._send(fpb.HandleFrame(call=call, part=part))
                await self.writer.drain()
                if part.last:
                    return
            # The app stopped streaming without finishing its response.
            self._send(_error(call, "the response ended before its last part"))
        except ConnectionError:
            return  # the host is gone: no one to tell
        except Exception as e:  # the bridge reported it; the host needs the call's end
            self._send(_error(call, f"the response failed: {e}"))
        finally:
            self.calls.pop(call, None)


def _error(call: int, message: str) -> fpb.HandleFrame:
    return fpb.HandleFrame(call=call, error=fpb.HandleError(code=_INTERNAL, message=message))
