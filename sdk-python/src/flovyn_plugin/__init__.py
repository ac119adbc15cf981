"""Flovyn server plugins in Python: a FastAPI app served behind the ``flovyn.plugin.v1``
process protocol.

.. code-block:: python

    from flovyn_plugin import CurrentIdentity, Plugin, permission, public

    plugin = Plugin(name="notes", version="0.1.0", description="Short notes.")
    plugin.migration(1, "create_notes", sql="CREATE TABLE p_notes__notes (...)")

    @plugin.app.get("/health", dependencies=[public])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if __name__ == "__main__":
        plugin.serve()

See ``docs/python-plugins.md`` in the repository.
"""

from ._access import CurrentIdentity, Identity, authenticated, permission, public
from ._errors import ApiError, error_responses
from ._events import EventMeta
from ._plugin import Migration, Plugin
from ._storage import (
    Database,
    DatabaseError,
    Executor,
    Row,
    SqlValue,
    Transaction,
    now_rfc3339,
)

__all__ = [
    "ApiError",
    "CurrentIdentity",
    "Database",
    "EventMeta",
    "Executor",
    "DatabaseError",
    "Identity",
    "Migration",
    "Plugin",
    "Row",
    "SqlValue",
    "Transaction",
    "authenticated",
    "error_responses",
    "now_rfc3339",
    "permission",
    "public",
]
