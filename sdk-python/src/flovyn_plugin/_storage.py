"""The server's database, reached through the host's storage service (``Host`` in
``host.proto``): each statement is checked by the host against the plugin's namespace and run
with its arguments bound by the database (``$1, $2…``), never formatted into the text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel

from flovyn.plugin.v1 import host_pb2 as hpb
from flovyn.plugin.v1 import host_pb2_grpc

TOKEN_METADATA = "flovyn-plugin-token"

#: A value a statement takes or a row holds.
SqlValue = None | bool | int | float | str | bytes
Row = dict[str, SqlValue]


class DatabaseError(Exception):
    """A statement the host refused (outside the plugin's namespace, say) or that failed."""


def to_value(value: SqlValue) -> hpb.Value:
    # bool first: it is an int too.
    if value is None:
        return hpb.Value(null=hpb.VALUE_TYPE_NULL)
    if isinstance(value, bool):
        return hpb.Value(bool=value)
    if isinstance(value, int):
        return hpb.Value(big_int=value)
    if isinstance(value, float):
        return hpb.Value(double=value)
    if isinstance(value, str):
        return hpb.Value(text=value)
    if isinstance(value, bytes):
        return hpb.Value(blob=value)
    raise TypeError(
        f"cannot bind a {type(value).__name__} to a statement: use None, bool, int, float, "
        "str or bytes (store times as RFC 3339 text)"
    )


def from_value(value: hpb.Value) -> SqlValue:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    result: SqlValue = getattr(value, kind)
    return result


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Executor:
    """What runs statements: the :class:`Database`, or a :class:`Transaction` on it."""

    def __init__(self, db: Database, transaction: int) -> None:
        self._db = db
        self._transaction = transaction

    async def _run(self, sql: str, args: Sequence[SqlValue]) -> hpb.StatementResult:
        request = hpb.Statement(
            sql=sql, arguments=[to_value(a) for a in args], transaction=self._transaction
        )
        result: hpb.StatementResult = await self._db._call("Execute", request)
        return result

    async def execute(self, sql: str, *args: SqlValue) -> int:
        """Runs one ``INSERT``/``UPDATE``/``DELETE``; how many rows it changed."""
        return int((await self._run(sql, args)).rows_affected)

    async def fetch_all(self, sql: str, *args: SqlValue) -> list[Row]:
        """Runs one ``SELECT``; its rows, by column name."""
        result = await self._run(sql, args)
        names = [c.name for c in result.columns]
        return [dict(zip(names, map(from_value, row.values), strict=True)) for row in result.rows]

    async def fetch_optional(self, sql: str, *args: SqlValue) -> Row | None:
        """The first row, or ``None``."""
        rows = await self.fetch_all(sql, *args)
        return rows[0] if rows else None

    async def publish(self, name: str, payload: BaseModel | dict[str, Any]) -> str:
        """Publishes one of the plugin's declared events; its id. Inside a transaction the
        event exists if and only if the transaction commits."""
        payload_json = (
            payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload)
        )
        event_id = str(uuid.uuid4())
        await self._db._call(
            "Publish",
            hpb.PublishRequest(
                transaction=self._transaction,
                event_id=event_id,
                name=name,
                payload_json=payload_json,
                published_at=now_rfc3339(),
            ),
        )
        return event_id


class Database(Executor):
    """The plugin's database: ``await db.fetch_all("SELECT … WHERE id = $1", 7)``, and
    ``async with db.transaction() as tx:`` (committed when the block ends, rolled back when
    it raises)."""

    def __init__(self, stub: Any, token: str, dialect: Literal["sqlite", "postgres"]) -> None:
        super().__init__(self, 0)
        self._stub = stub
        self._token = token
        self.dialect = dialect

    @classmethod
    def connect(cls, address: str, token: str, dialect: int) -> Database:
        import grpc

        # The default authority of a Unix socket channel is its path, which the host's HTTP/2
        # server refuses as an authority.
        channel = grpc.aio.insecure_channel(
            f"unix:{address}", options=[("grpc.default_authority", "localhost")]
        )
        name: Literal["sqlite", "postgres"] = (
            "postgres" if dialect == hpb.DIALECT_POSTGRES else "sqlite"
        )
        return cls(host_pb2_grpc.HostStub(channel), token, name)

    async def _call(self, method: str, request: Any) -> Any:
        import grpc

        try:
            return await getattr(self._stub, method)(
                request, metadata=((TOKEN_METADATA, self._token),)
            )
        except grpc.aio.AioRpcError as e:
            raise DatabaseError(e.details() or str(e.code())) from None

    def transaction(self) -> Transaction:
        return Transaction(self)


class Transaction(Executor):
    """A transaction the host holds across calls; use it as ``async with db.transaction()``."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, 0)
        self._done = False

    async def __aenter__(self) -> Transaction:
        begun = await self._db._call("Begin", hpb.BeginRequest())
        self._transaction = int(begun.transaction)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if kind is None:
            await self.commit()
        else:
            await self.rollback()

    async def commit(self) -> None:
        self._done = True
        await self._db._call("Commit", hpb.TransactionRef(transaction=self._transaction))

    async def rollback(self) -> None:
        self._done = True
        await self._db._call("Rollback", hpb.TransactionRef(transaction=self._transaction))
