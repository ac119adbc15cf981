"""`hello` in Python: the benchmark's Python side of `bench/run.sh python`.

The greeting route of the Rust `hello` plugin (`example-plugins/hello`), written with the
Python SDK (`sdk-python/`): `GET /greeting?name=Ada` answers `{"message":"Hello, Ada!"}`,
public, as the Rust plugin does. The same plugin name, so the route's path is the same
(`/api/v1/p/hello/greeting`) in the three servers the benchmark compares. Only this route:
no migration, no protected route (the benchmark calls none).

The server runs it with the benchmark's Python environment (`scripts/python-env`):

    [plugins.hello]
    mode = "process"
    command = "<repo>/target/python/bin/python"
    args = ["<repo>/bench/python-hello/hello_plugin.py"]
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from flovyn_plugin import Plugin, public

plugin = Plugin(
    name="hello",
    version="0.1.0",
    description="Says hello (the benchmark's Python twin of the Rust hello plugin).",
)
app = plugin.app


class Greeting(BaseModel):
    """A greeting."""

    message: str = Field(description="The text of the greeting.")


@app.get("/greeting", dependencies=[public])
async def greeting(name: str | None = None) -> Greeting:
    """Greet someone.

    Public: needs no credentials."""
    return Greeting(message=f"Hello, {name if name is not None else 'world'}!")


if __name__ == "__main__":
    plugin.serve()
