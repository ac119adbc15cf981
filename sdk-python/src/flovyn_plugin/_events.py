"""Events a plugin handles, and its periodic tasks: the entries the host calls through
``Deliver`` and ``RunTask`` by their position in the descriptor.

A subscriber is ``async def on_x(payload: Model, meta: EventMeta) -> None`` (``meta``
optional): the payload is validated into the first parameter's pydantic model (or given as
a ``dict``). Delivery is at least once — the same ``meta.id`` may come again, so a handler
that writes keys its rows by it. A handler that raises fails the delivery, which the host
retries with backoff and, after its attempts, sets aside as a dead letter.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel


@dataclass(frozen=True)
class EventMeta:
    """Which event a subscriber is handling."""

    #: Stable across redeliveries: key idempotent writes by it.
    id: str
    #: ``<publisher>.<event>`` (``core.tenant-created``).
    name: str
    publisher: str
    #: RFC 3339.
    published_at: str


Handler = Callable[..., Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Subscription:
    event: str
    handler: Handler

    async def deliver(self, payload_json: str, meta: EventMeta) -> None:
        hints = get_type_hints(self.handler)
        params = list(inspect.signature(self.handler).parameters.values())
        args: list[Any] = []
        for param in params:
            kind = hints.get(param.name)
            if kind is EventMeta:
                args.append(meta)
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                args.append(kind.model_validate_json(payload_json))
            else:
                args.append(json.loads(payload_json))
        await self.handler(*args)


@dataclass(frozen=True)
class Task:
    #: The handler's name.
    name: str
    #: ``30s``, ``1h30m``…
    every: str
    run: Callable[[], Coroutine[Any, Any, None]]
