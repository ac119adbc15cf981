"""The handshake with the host that starts the plugin (``docs/process-plugins.md``): the
magic cookie and the protocol versions come in the environment, the plugin answers one line
on stdout once it serves (``1|1|unix|/path/plugin.sock|grpc``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAGIC_COOKIE_KEY = "FLOVYN_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d3c9e5b2-flovyn-plugin"
PROTOCOL_VERSIONS_KEY = "FLOVYN_PLUGIN_PROTOCOL_VERSIONS"
SOCKET_DIR_KEY = "FLOVYN_PLUGIN_SOCKET_DIR"
CORE_VERSION = 1
#: The protocol versions this SDK speaks.
PROTOCOL_VERSIONS = (1,)


class HandshakeError(Exception):
    """The process was not started by a host it can serve; the message says why."""


@dataclass(frozen=True)
class Handshake:
    version: int
    socket_dir: Path

    def line(self, socket: Path) -> str:
        return f"{CORE_VERSION}|{self.version}|unix|{socket}|grpc"


def started_by_host(env: Mapping[str, str]) -> bool:
    return env.get(MAGIC_COOKIE_KEY) == MAGIC_COOKIE_VALUE


def negotiate(env: Mapping[str, str], supported: tuple[int, ...] = PROTOCOL_VERSIONS) -> Handshake:
    """The highest version both speak, and where to put the socket."""
    offered: list[int] = []
    for part in env.get(PROTOCOL_VERSIONS_KEY, "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            offered.append(int(part))
        except ValueError:
            raise HandshakeError(f"`{PROTOCOL_VERSIONS_KEY}` has `{part}`, not a version") from None
    common = [v for v in offered if v in supported]
    if not common:
        raise HandshakeError(
            f"no common protocol version: the host speaks {offered}, the plugin {list(supported)}"
        )
    socket_dir = env.get(SOCKET_DIR_KEY)
    if not socket_dir:
        raise HandshakeError(f"`{SOCKET_DIR_KEY}` is not set")
    return Handshake(max(common), Path(socket_dir))
