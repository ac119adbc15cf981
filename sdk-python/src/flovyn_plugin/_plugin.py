"""The plugin: a FastAPI app plus what the host needs to know that FastAPI does not —
name, version, migrations, typed config, start and stop hooks."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from . import _errors
from ._access import check_route_access
from ._events import Handler, Subscription, Task
from ._storage import Database

Config = TypeVar("Config", bound=BaseModel)
Hook = Callable[[], Coroutine[Any, Any, None]]


class _NoConfig(BaseModel):
    """The configuration of a plugin that declares none."""


@dataclass(frozen=True)
class Migration:
    """One schema change, applied once by the host in its ledger (``version`` strictly
    increasing); one text for both databases, or one per dialect."""

    version: int
    name: str
    postgres: str
    sqlite: str


class Plugin(Generic[Config]):
    """A Flovyn plugin written in Python.

    ``app`` is an ordinary FastAPI app: declare routes on it (or include routers), with
    ``dependencies=[permission("notes:write")]`` or ``[public]``; a route that says
    neither needs an authenticated caller. Paths are relative to the plugin's prefix
    ``/api/v1/p/<name>``. Run the plugin with :meth:`serve` (the host starts it).
    """

    def __init__(
        self,
        name: str,
        version: str,
        *,
        description: str = "",
        config: type[Config] | None = None,
        depends_on: tuple[str, ...] = (),
        publishes: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.version = version
        self.description = description or ""
        self.depends_on = depends_on
        self.config_model: type[BaseModel] | None = config
        self.migrations: list[Migration] = []
        #: The events it publishes (``notes.note-created``): the host refuses others.
        self.publishes = publishes
        self.subscriptions: list[Subscription] = []
        self.tasks: list[Task] = []
        self.on_start_hooks: list[Hook] = []
        self.on_stop_hooks: list[Hook] = []
        self._config: BaseModel | None = None
        self._db: Database | None = None
        self.app = FastAPI(
            title=name,
            version=version,
            description=self.description,
            dependencies=[Depends(check_route_access)],
            # The host serves the documentation; the plugin serves only its routes.
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
        )
        _errors.install(self.app, name)

    def migration(
        self,
        version: int,
        name: str,
        *,
        sql: str | None = None,
        postgres: str | None = None,
        sqlite: str | None = None,
        file: str | Path | None = None,
    ) -> None:
        """Adds migration ``version`` (SQL text, a text per dialect, or a file next to the
        calling module)."""
        if file is not None:
            path = Path(file)
            if not path.is_absolute():
                caller = inspect.stack()[1].filename
                path = Path(caller).resolve().parent / path
            sql = path.read_text(encoding="utf-8")
        if sql is not None:
            postgres = postgres if postgres is not None else sql
            sqlite = sqlite if sqlite is not None else sql
        if postgres is None or sqlite is None:
            raise ValueError(
                f"migration {version} `{name}` of plugin `{self.name}` needs `sql`, `file`, "
                "or both `postgres` and `sqlite`"
            )
        self.migrations.append(Migration(version, name, postgres, sqlite))

    def subscribe(self, event: str) -> Callable[[Handler], Handler]:
        """Decorator: handles ``event`` (``core.tenant-created``), see ``EventMeta``."""

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(Subscription(event, handler))
            return handler

        return register

    def task(self, every: str) -> Callable[[Hook], Hook]:
        """Decorator: runs the function every ``every`` (``30s``, ``1h``), once per tick
        across the server's replicas (the host's scheduler decides when)."""

        def register(run: Hook) -> Hook:
            self.tasks.append(Task(run.__name__, every, run))
            return run

        return register

    def on_start(self, hook: Hook) -> Hook:
        """Decorator: runs once the host initialised the plugin, before its first request."""
        self.on_start_hooks.append(hook)
        return hook

    def on_stop(self, hook: Hook) -> Hook:
        """Decorator: runs when the host stops the plugin (the server shuts down)."""
        self.on_stop_hooks.append(hook)
        return hook

    @property
    def config(self) -> Config:
        """The plugin's section of ``flovyn.toml``, validated (once the host initialised it)."""
        if self._config is None:
            raise RuntimeError(f"plugin `{self.name}` is not initialised yet: no config")
        return self._config  # type: ignore[return-value]

    @property
    def db(self) -> Database:
        """The server's database, through the host (once the host initialised the plugin)."""
        if self._db is None:
            raise RuntimeError(f"plugin `{self.name}` is not initialised yet: no database")
        return self._db

    def configure(self, config_json: str) -> None:
        """Validates the plugin's section: ``ValueError`` names an unknown key (as the
        server does for its own sections), ``pydantic.ValidationError`` a bad value."""
        model = self.config_model or _NoConfig
        section = json.loads(config_json or "{}")
        if isinstance(section, dict):
            known = set()
            for field_name, field in model.model_fields.items():
                known.add(field.alias or field_name)
            unknown = sorted(set(section) - known)
            if unknown:
                expected = ", ".join(f"`{k}`" for k in sorted(known)) or "no keys"
                raise ValueError(
                    f"unknown key `{unknown[0]}` in `[plugins.{self.name}]`; expected {expected}"
                )
        self._config = model.model_validate(section)

    def attach(self, db: Database | None) -> None:
        self._db = db

    def serve(self) -> None:
        """Serves the plugin to the host that started this process (guide chapter 10)."""
        from ._server import run

        raise SystemExit(run(self))

    def schema_of_config(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The config's JSON Schema and the named schemas it refers to."""
        if self.config_model is None:
            return None
        schema = self.config_model.model_json_schema(ref_template="#/components/schemas/{model}")
        named = schema.pop("$defs", {})
        return schema, named
