"""Short notes per tenant: an example Flovyn plugin written in Python.

Its own table (``p_notes__notes``), routes with permissions (``notes:read``,
``notes:write``), a typed config (``[plugins.notes]``), storage through the host with a
transaction that publishes ``notes.note-created``, a welcome note for every new tenant
(``core.tenant-created``), and a periodic task that deletes notes past their retention.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import Response
from pydantic import BaseModel, Field

from flovyn_plugin import (
    ApiError,
    CurrentIdentity,
    EventMeta,
    Executor,
    Plugin,
    Row,
    error_responses,
    now_rfc3339,
    permission,
    public,
)


class NotesConfig(BaseModel):
    """`[plugins.notes]` in flovyn.toml."""

    max_body_length: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="The longest note body accepted, in characters.",
    )
    retention_days: int | None = Field(
        default=None, ge=1, description="Notes older than this many days are deleted; none: kept."
    )


class NewNote(BaseModel):
    """A note to create."""

    title: str = Field(min_length=1, max_length=200, description="One line.")
    body: str = Field(default="", description="The text.")


class Note(BaseModel):
    """A note."""

    id: str = Field(description="Its id.")
    tenant: str | None = Field(description="The tenant it belongs to.")
    title: str = Field(description="One line.")
    body: str = Field(description="The text.")
    created_by: str = Field(description="The principal who wrote it.")
    created_at: str = Field(description="When (RFC 3339).")


class NoteCreated(BaseModel):
    """Published when a note is written (`notes.note-created`)."""

    id: str
    tenant: str | None
    created_by: str


class TenantCreated(BaseModel):
    """The server's `core.tenant-created`."""

    id: str
    name: str


class About(BaseModel):
    """What the plugin is."""

    plugin: str = Field(description="The plugin's name.")
    max_body_length: int = Field(description="The longest note body accepted.")


plugin: Plugin[NotesConfig] = Plugin(
    name="notes",
    version="0.1.0",
    description="Short notes per tenant, written in Python.",
    config=NotesConfig,
    publishes=("notes.note-created",),
)
plugin.migration(1, "create_notes", file="migrations/001_create_notes.sql")
app = plugin.app


def _note(row: Row) -> Note:
    return Note.model_validate(row)


@app.get("/about", dependencies=[public])
async def about() -> About:
    """What this plugin accepts.

    Public: needs no credentials."""
    return About(plugin=plugin.name, max_body_length=plugin.config.max_body_length)


@app.get("/notes", dependencies=[permission("notes:read")])
async def list_notes(who: CurrentIdentity) -> list[Note]:
    """The caller's tenant's notes, newest first."""
    rows = await plugin.db.fetch_all(
        "SELECT id, tenant, title, body, created_by, created_at FROM p_notes__notes "
        "WHERE tenant IS NOT DISTINCT FROM CAST($1 AS TEXT) ORDER BY created_at DESC, id",
        who.tenant,
    )
    return [_note(r) for r in rows]


@app.post("/notes", status_code=201, dependencies=[permission("notes:write")])
async def create_note(new: NewNote, who: CurrentIdentity) -> Note:
    """Write a note in the caller's tenant."""
    limit = plugin.config.max_body_length
    if len(new.body) > limit:
        raise ApiError(422, "unprocessable_entity", f"the body is longer than {limit} characters")
    note = Note(
        id=str(uuid.uuid4()),
        tenant=who.tenant,
        title=new.title,
        body=new.body,
        created_by=who.principal_id,
        created_at=now_rfc3339(),
    )
    # The note and its event commit together, or neither does.
    async with plugin.db.transaction() as tx:
        await _insert(tx, note)
        await tx.publish(
            "notes.note-created",
            NoteCreated(id=note.id, tenant=note.tenant, created_by=note.created_by),
        )
    return note


@app.get(
    "/notes/{note_id}", dependencies=[permission("notes:read")], responses=error_responses(404)
)
async def get_note(note_id: str, who: CurrentIdentity) -> Note:
    """One note of the caller's tenant."""
    row = await plugin.db.fetch_optional(
        "SELECT id, tenant, title, body, created_by, created_at FROM p_notes__notes "
        "WHERE id = $1 AND tenant IS NOT DISTINCT FROM CAST($2 AS TEXT)",
        note_id,
        who.tenant,
    )
    if row is None:
        raise ApiError.not_found(f"no note with id `{note_id}`")
    return _note(row)


@app.delete(
    "/notes/{note_id}",
    status_code=204,
    dependencies=[permission("notes:write")],
    responses=error_responses(404),
)
async def delete_note(note_id: str, who: CurrentIdentity) -> Response:
    """Delete a note of the caller's tenant."""
    deleted = await plugin.db.execute(
        "DELETE FROM p_notes__notes WHERE id = $1 AND tenant IS NOT DISTINCT FROM CAST($2 AS TEXT)",
        note_id,
        who.tenant,
    )
    if deleted == 0:
        raise ApiError.not_found(f"no note with id `{note_id}`")
    return Response(status_code=204)


async def _insert(db: Executor, note: Note) -> None:
    await db.execute(
        "INSERT INTO p_notes__notes (id, tenant, title, body, created_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        note.id,
        note.tenant,
        note.title,
        note.body,
        note.created_by,
        note.created_at,
    )


@plugin.subscribe("core.tenant-created")
async def on_tenant_created(tenant: TenantCreated, meta: EventMeta) -> None:
    """Every new tenant starts with a welcome note; keyed by the event's id, so a
    redelivery writes nothing twice."""
    await _insert(
        plugin.db,
        Note(
            id=f"welcome-{meta.id}",
            tenant=tenant.id,
            title=f"Welcome, {tenant.name}",
            body="Notes written here are visible to everyone in the tenant.",
            created_by="notes",
            created_at=now_rfc3339(),
        ),
    )


@plugin.task(every="1h")
async def prune_expired() -> None:
    """Deletes notes older than `retention_days`, when it is set."""
    days = plugin.config.retention_days
    if days is None:
        return
    cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
    cutoff = cutoff.replace("+00:00", "Z")
    await plugin.db.execute("DELETE FROM p_notes__notes WHERE created_at < $1", cutoff)


def main() -> None:
    """The plugin executable (`notes-plugin`): started by the server."""
    plugin.serve()
