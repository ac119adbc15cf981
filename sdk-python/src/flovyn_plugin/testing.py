"""Testing a plugin's app without a server: FastAPI's ``TestClient``, acting as a caller.

.. code-block:: python

    from flovyn_plugin.testing import caller, client

    def test_create_needs_the_permission() -> None:
        reply = client(plugin, caller(permissions=["notes:read"])).post("/notes", json={...})
        assert reply.status_code == 403

The host authenticates requests in a server; here the identity is given. Paths are the
plugin's own (``/notes``), without the ``/api/v1/p/<name>`` prefix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from fastapi.testclient import TestClient

from ._access import IDENTITY_SCOPE_KEY, Identity
from ._plugin import Plugin

Message = MutableMapping[str, Any]


def caller(
    principal_id: str = "test-user",
    *,
    principal_type: Literal["admin", "user", "worker", "service"] = "user",
    tenant: str | None = "default",
    permissions: list[str] | None = None,
    roles: list[str] | None = None,
) -> Identity:
    """An identity as the host would pass it (the admin holds ``["*"]``)."""
    return Identity(
        principal_id=principal_id,
        principal_type=principal_type,
        tenant=tenant,
        roles=roles or [],
        permissions=permissions or [],
    )


def client(plugin: Plugin[Any], identity: Identity | None = None, **options: Any) -> TestClient:
    """A ``TestClient`` on ``plugin``'s app whose requests come from ``identity`` (none:
    anonymous). ``options`` go to ``TestClient`` (``raise_server_exceptions=False`` to see
    the 500 a client gets)."""

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            scope = {**scope, IDENTITY_SCOPE_KEY: identity}
        await plugin.app(scope, receive, send)

    return TestClient(app, **options)
