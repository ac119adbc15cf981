"""``flovyn-plugin``: the plugin author's command.

``flovyn-plugin run notes_plugin --reload`` is what a development server's ``flovyn.toml``
starts (``command`` and ``args``): it serves the module's plugin and, with ``--reload``, exits
as soon as a Python file next to it changes — the server restarts the process, on the new code.

``flovyn-plugin check notes_plugin`` builds the plugin's descriptor exactly as the server will
receive it and applies the server's naming rules to it — the Rust code of ``flovyn-descriptor``
itself, compiled into ``flovyn_plugin_rules`` — so a plugin name, a table outside
``p_<plugin>__*``, a route path or a migration out of order is reported before the server
refuses the plugin, with the same message.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from flovyn.plugin.v1 import plugin_pb2 as pb

from ._describe import FORMAT_VERSION, describe
from ._plugin import Plugin

RULES_INSTALL = "pip install <checkout>/sdk-python/rules (needs cargo)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flovyn-plugin", description="Tools for Flovyn plugins written in Python."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="check a plugin against the server's naming rules",
        description="Builds the plugin's descriptor as the server receives it and checks it "
        "with the server's own rules (plugin name, tables, routes, migrations, permissions, "
        "events, tasks). Exit status 0: it follows them; 1: it breaks some (each printed).",
    )
    check.add_argument(
        "target",
        metavar="MODULE[:ATTRIBUTE]",
        help="where the Plugin object is: `notes_plugin` (its `plugin`), or `notes_plugin:notes`",
    )
    run = commands.add_parser(
        "run",
        help="serve a plugin to the server that started this process (development)",
        description="What a server's flovyn.toml starts (`command` = this program, `args` = "
        '["run", "<module or absolute path of a .py file>", "--reload"]): serves the '
        "plugin; with --reload, exits when a Python file in the plugin's directory changes, "
        "and the server starts it again on the new code.",
    )
    run.add_argument("target", metavar="MODULE[:ATTRIBUTE] | FILE.py")
    run.add_argument(
        "--reload", action="store_true", help="exit when the plugin's Python files change"
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_plugin(args.target, args.reload)
    return run_check(args.target)


def load(target: str) -> tuple[Plugin[Any], ModuleType] | str:
    """The ``Plugin`` ``target`` names (``module``, ``module:attribute`` or a ``.py`` file)
    and its module, or why there is none."""
    where, _, attribute = target.partition(":")
    attribute = attribute or "plugin"
    module: ModuleType
    try:
        if where.endswith(".py"):
            path = Path(where).resolve()
            sys.path.insert(0, str(path.parent))
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                return f"cannot load `{where}`"
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            sys.path.insert(0, ".")
            module = importlib.import_module(where)
    except (ImportError, OSError) as e:
        return f"cannot import `{where}`: {e}"
    plugin: Any = getattr(module, attribute, None)
    if not isinstance(plugin, Plugin):
        return f"`{where}` has no Plugin named `{attribute}`"
    return plugin, module


def run_plugin(target: str, reload: bool) -> int:
    if reload:
        # Compiled from source every start: a cached `.pyc` is trusted when the source's
        # size and mtime (in whole seconds) match, which an edit within the same second that
        # keeps the size defeats — the restarted plugin would run the old code.
        sys.dont_write_bytecode = True
        sys.pycache_prefix = str(Path(tempfile.gettempdir()) / f"flovyn-no-pyc-{os.getpid()}")
    loaded = load(target)
    if isinstance(loaded, str):
        print(f"error: {loaded}", file=sys.stderr)
        return 2
    plugin, module = loaded
    if reload and module.__file__:
        # The plugin's directory: its package, or the directory of its file.
        root = Path(module.__file__).resolve().parent
        # Taken now, before the handshake: an edit made once the server serves the plugin
        # is a change, however late the watching thread gets to run.
        before = _snapshot(root)
        threading.Thread(
            target=_exit_on_change, args=(plugin.name, root, before), daemon=True
        ).start()
    from ._server import run

    return run(plugin)


def _snapshot(root: Path) -> dict[Path, float]:
    files: dict[Path, float] = {}
    for path in root.rglob("*.py"):
        try:
            files[path] = path.stat().st_mtime
        except OSError:
            pass
    return files


def _exit_on_change(plugin: str, root: Path, before: dict[Path, float]) -> None:
    while True:
        time.sleep(0.3)
        now = _snapshot(root)
        if now != before:
            changed = sorted(str(p) for p in set(now) | set(before) if now.get(p) != before.get(p))
            print(
                f"plugin `{plugin}`: {', '.join(changed)} changed: exiting, the server starts "
                "it again on the new code",
                file=sys.stderr,
            )
            sys.stderr.flush()
            os._exit(3)


def run_check(target: str) -> int:
    loaded = load(target)
    if isinstance(loaded, str):
        print(f"error: {loaded}", file=sys.stderr)
        return 2
    plugin = loaded[0]
    try:
        import flovyn_plugin_rules
    except ImportError:
        print(f"error: the rules are not installed: {RULES_INSTALL}", file=sys.stderr)
        return 2
    try:
        descriptor = describe(plugin)
    except ValueError as e:
        print(f"error: plugin `{plugin.name}`: {e}", file=sys.stderr)
        return 1
    response = pb.DescribeResponse(format=FORMAT_VERSION, plugin=descriptor)
    broken = flovyn_plugin_rules.check(response.SerializeToString())
    for rule in broken:
        print(f"error: plugin `{plugin.name}`: {rule}", file=sys.stderr)
    if broken:
        return 1
    print(
        f"plugin `{plugin.name}` {plugin.version} follows the naming rules: "
        f"{_count(len(descriptor.routes), 'route')}, "
        f"{_count(len(descriptor.migrations), 'migration')}, "
        f"{_count(len(descriptor.subscriptions), 'subscription')}, "
        f"{_count(len(descriptor.tasks), 'task')}"
    )
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


if __name__ == "__main__":
    raise SystemExit(main())
