"""The plugin process: handshake, the ``flovyn.plugin.v1.Plugin`` service and
``grpc.health.v1`` on a Unix socket only the host can reach, ``Handle`` also as frames on a
second one (named in the ``Initialize`` answer), until the host's ``Shutdown`` or until it
closes the process's stdin (it stopped, or died)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import ValidationError

from flovyn.plugin.v1 import plugin_pb2 as pb
from flovyn.plugin.v1 import plugin_pb2_grpc

from . import _asgi, _frames
from ._describe import FORMAT_VERSION, describe
from ._errors import report
from ._events import EventMeta
from ._handshake import HandshakeError, negotiate, started_by_host
from ._plugin import Plugin
from ._storage import Database


class PluginService(plugin_pb2_grpc.PluginServicer):  # type: ignore[misc]  # untyped base
    def __init__(self, plugin: Plugin[Any], stop: asyncio.Event, frames: Path) -> None:
        self.plugin = plugin
        self.prefix = f"/api/v1/p/{plugin.name}"
        self.stop = stop
        self.initialized = False
        #: Where ``Handle`` as frames is served, from ``Initialize`` on.
        self.frames = frames
        self.frames_server: asyncio.AbstractServer | None = None

    async def Describe(self, request: pb.DescribeRequest, context: Any) -> pb.DescribeResponse:
        try:
            descriptor = describe(self.plugin)
        except ValueError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        return pb.DescribeResponse(format=FORMAT_VERSION, plugin=descriptor)

    async def Initialize(
        self, request: pb.InitializeRequest, context: Any
    ) -> pb.InitializeResponse:
        try:
            self.plugin.configure(request.config_json)
        except (ValidationError, ValueError) as e:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid configuration for plugin `{self.plugin.name}`: {e}",
            )
        if request.host_address:
            self.plugin.attach(
                Database.connect(request.host_address, request.host_token, request.dialect)
            )
        for hook in self.plugin.on_start_hooks:
            try:
                await hook()
            except Exception as e:
                report(self.plugin.name, f"start hook `{hook.__name__}` failed", e)
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"start hook `{hook.__name__}`: {e}"
                )
        if self.frames_server is None:
            self.frames_server = await _frames.serve(
                self.frames, self.plugin.app, self.prefix, self.plugin.name
            )
        self.initialized = True
        return pb.InitializeResponse(handle_address=str(self.frames))

    async def Handle(
        self, request: pb.HttpRequest, context: Any
    ) -> AsyncIterator[pb.HttpResponsePart]:
        async for part in _asgi.handle(self.plugin.app, request, self.prefix, self.plugin.name):
            yield part

    async def RunTask(self, request: pb.RunTaskRequest, context: Any) -> pb.RunTaskResponse:
        if request.task >= len(self.plugin.tasks):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"plugin `{self.plugin.name}` has no task {request.task}",
            )
        task = self.plugin.tasks[request.task]
        try:
            await task.run()
        except Exception as e:
            report(self.plugin.name, f"task `{task.name}` failed", e)
            await context.abort(grpc.StatusCode.INTERNAL, f"task `{task.name}`: {e}")
        return pb.RunTaskResponse()

    async def Deliver(self, request: pb.DeliverRequest, context: Any) -> pb.DeliverResponse:
        if request.subscription >= len(self.plugin.subscriptions):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"plugin `{self.plugin.name}` has no subscription {request.subscription}",
            )
        subscription = self.plugin.subscriptions[request.subscription]
        meta = EventMeta(
            id=request.event_id,
            name=request.name,
            publisher=request.publisher,
            published_at=request.published_at,
        )
        try:
            await subscription.deliver(request.payload_json, meta)
        except Exception as e:
            handler = subscription.handler.__name__
            report(self.plugin.name, f"`{handler}` failed on event {meta.name} {meta.id}", e)
            await context.abort(grpc.StatusCode.INTERNAL, f"`{handler}`: {e}")
        return pb.DeliverResponse()

    async def Shutdown(self, request: pb.ShutdownRequest, context: Any) -> pb.ShutdownResponse:
        failures = []
        for hook in reversed(self.plugin.on_stop_hooks):
            try:
                await hook()
            except Exception as e:
                report(self.plugin.name, f"stop hook `{hook.__name__}` failed", e)
                failures.append(f"stop hook `{hook.__name__}`: {e}")
        self.stop.set()
        if failures:
            await context.abort(grpc.StatusCode.INTERNAL, "; ".join(failures))
        return pb.ShutdownResponse()


def run(plugin: Plugin[Any]) -> int:
    """Serves ``plugin`` to the host that started this process; the exit status."""
    if not started_by_host(os.environ):
        print(
            f"this is the Flovyn plugin `{plugin.name}`: the Flovyn server starts it "
            f'(`[plugins.{plugin.name}] mode = "process"` in flovyn.toml); it is not meant '
            "to be run by hand",
            file=sys.stderr,
        )
        return 1
    try:
        return asyncio.run(_serve(plugin))
    except HandshakeError as e:
        print(f"plugin `{plugin.name}`: {e}", file=sys.stderr)
        return 1


async def _serve(plugin: Plugin[Any]) -> int:
    handshake = negotiate(os.environ)
    # Checked before the line: a descriptor that cannot be built stops the start at once.
    describe(plugin)
    socket = handshake.socket_dir / f"{plugin.name}.sock"
    stop = asyncio.Event()
    server = grpc.aio.server()
    service = PluginService(plugin, stop, handshake.socket_dir / f"{plugin.name}.handle.sock")
    plugin_pb2_grpc.add_PluginServicer_to_server(service, server)
    health_service = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_service, server)
    if server.add_insecure_port(f"unix:{socket}") == 0:
        raise HandshakeError(f"cannot listen on `{socket}`")
    await server.start()
    os.chmod(socket, 0o600)
    await health_service.set("", health_pb2.HealthCheckResponse.SERVING)
    sys.stdout.write(handshake.line(socket) + "\n")
    sys.stdout.flush()

    loop = asyncio.get_running_loop()
    threading.Thread(target=_wait_for_stdin_end, args=(loop, stop), daemon=True).start()
    await stop.wait()
    if service.frames_server is not None:
        service.frames_server.close()
    await server.stop(grace=5)
    return 0


def _wait_for_stdin_end(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Sets ``stop`` when the host closes this process's stdin (it stopped, or died)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    loop.call_soon_threadsafe(stop.set)
