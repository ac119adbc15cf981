"""``flovyn-plugin``: the plugin author's command.

``flovyn-plugin check notes_plugin`` builds the plugin's descriptor exactly as the server will
receive it and applies the server's naming rules to it — the Rust code of ``flovyn-descriptor``
itself, compiled into ``flovyn_plugin_rules`` — so a plugin name, a table outside
``p_<plugin>__*``, a route path or a migration out of order is reported before the server
refuses the plugin, with the same message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
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
    args = parser.parse_args(argv)
    return run_check(args.target)


def run_check(target: str) -> int:
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        print(f"error: cannot import `{module_name}`: {e}", file=sys.stderr)
        return 2
    plugin: Any = getattr(module, attribute or "plugin", None)
    if not isinstance(plugin, Plugin):
        print(
            f"error: `{module_name}` has no Plugin named `{attribute or 'plugin'}`",
            file=sys.stderr,
        )
        return 2
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
