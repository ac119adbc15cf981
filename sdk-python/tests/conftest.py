"""A small plugin the tests share: routes with each access rule, a typed config, a
migration."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Response
from pydantic import BaseModel, Field

from flovyn_plugin import ApiError, CurrentIdentity, EventMeta, Plugin, permission, public


class Settings(BaseModel):
    greeting: str = Field(default="hello", min_length=1, description="How to greet.")
    limit: int = Field(default=10, ge=1, le=100)


class Note(BaseModel):
    """A note."""

    id: str
    title: str = Field(min_length=1, max_length=200)


def build() -> Plugin[Settings]:
    plugin: Plugin[Settings] = Plugin(
        name="notes",
        version="0.1.0",
        description="Notes.",
        config=Settings,
        publishes=("notes.note-created",),
    )
    plugin.migration(1, "create_notes", sql="CREATE TABLE p_notes__notes (id TEXT PRIMARY KEY)")
    app = plugin.app

    @app.get("/hello", dependencies=[public])
    async def hello(name: str = "world") -> dict[str, str]:
        """Greet someone.

        Public: needs no credentials."""
        return {"message": f"hello, {name}"}

    @app.get("/me")
    async def me(who: CurrentIdentity) -> dict[str, Any]:
        """Who is calling."""
        return {"principal_id": who.principal_id}

    @app.post("/notes", status_code=201, dependencies=[permission("notes:write")])
    async def create_note(note: Note) -> Note:
        """Create a note."""
        return note

    @app.get("/notes/{note_id}", dependencies=[permission("notes:read")])
    async def get_note(note_id: str) -> Note:
        """One note."""
        raise ApiError.not_found(f"no note with id `{note_id}`")

    @app.get("/boom", dependencies=[public])
    async def boom() -> Response:
        raise RuntimeError("the handler failed")

    @plugin.subscribe("core.tenant-created")
    async def on_tenant_created(tenant: Tenant, meta: EventMeta) -> None:
        HANDLED.append((tenant.id, meta.id))

    @plugin.subscribe("worker-token.token-created")
    async def on_token_created(payload: dict[str, Any]) -> None:
        HANDLED.append((payload["id"], "dict"))

    @plugin.task(every="1h")
    async def prune() -> None:
        HANDLED.append(("prune", ""))

    return plugin


class Tenant(BaseModel):
    id: str
    name: str


#: What the subscribers and the task above saw.
HANDLED: list[tuple[str, str]] = []


@pytest.fixture
def plugin() -> Plugin[Settings]:
    return build()
