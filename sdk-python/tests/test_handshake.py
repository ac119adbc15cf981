"""The environment side of the handshake."""

from __future__ import annotations

from pathlib import Path

import pytest

from flovyn_plugin._handshake import HandshakeError, negotiate, started_by_host

BASE = {"FLOVYN_PLUGIN_SOCKET_DIR": "/run/p"}


def test_the_highest_common_version_and_the_line() -> None:
    shake = negotiate({**BASE, "FLOVYN_PLUGIN_PROTOCOL_VERSIONS": "1, 2"}, supported=(1, 2, 3))
    assert shake.version == 2
    assert shake.line(Path("/run/p/notes.sock")) == "1|2|unix|/run/p/notes.sock|grpc"


def test_no_common_version() -> None:
    with pytest.raises(HandshakeError, match=r"the host speaks \[2\], the plugin \[1\]"):
        negotiate({**BASE, "FLOVYN_PLUGIN_PROTOCOL_VERSIONS": "2"})


def test_garbage_versions_and_missing_dir() -> None:
    with pytest.raises(HandshakeError, match="has `one`, not a version"):
        negotiate({**BASE, "FLOVYN_PLUGIN_PROTOCOL_VERSIONS": "one"})
    with pytest.raises(HandshakeError, match="`FLOVYN_PLUGIN_SOCKET_DIR` is not set"):
        negotiate({"FLOVYN_PLUGIN_PROTOCOL_VERSIONS": "1"})


def test_the_cookie() -> None:
    assert started_by_host({"FLOVYN_PLUGIN_MAGIC_COOKIE": "d3c9e5b2-flovyn-plugin"})
    assert not started_by_host({"FLOVYN_PLUGIN_MAGIC_COOKIE": "something else"})
    assert not started_by_host({})
