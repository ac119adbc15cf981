"""Subscribers and tasks: in the descriptor by position, called as the host calls them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import HANDLED
from pydantic import ValidationError

from flovyn_plugin import EventMeta, Plugin
from flovyn_plugin._describe import describe

META = EventMeta(
    id="e-1", name="core.tenant-created", publisher="core", published_at="2026-12-06T00:00:00Z"
)


def test_in_the_descriptor(plugin: Plugin[Any]) -> None:
    d = describe(plugin)
    assert list(d.events) == ["notes.note-created"]
    assert [(s.event, s.handler) for s in d.subscriptions] == [
        ("core.tenant-created", "on_tenant_created"),
        ("worker-token.token-created", "on_token_created"),
    ]
    assert [(t.name, t.every) for t in d.tasks] == [("prune", "1h")]


def test_a_typed_payload_and_its_meta(plugin: Plugin[Any]) -> None:
    HANDLED.clear()
    asyncio.run(plugin.subscriptions[0].deliver('{"id": "acme", "name": "Acme"}', META))
    asyncio.run(plugin.subscriptions[1].deliver('{"id": "t-9"}', META))
    asyncio.run(plugin.tasks[0].run())
    assert HANDLED == [("acme", "e-1"), ("t-9", "dict"), ("prune", "")]


def test_a_payload_off_its_model_fails_the_delivery(plugin: Plugin[Any]) -> None:
    with pytest.raises(ValidationError):
        asyncio.run(plugin.subscriptions[0].deliver('{"id": "acme"}', META))
