"""``flovyn-plugin check``: the server's own rules (compiled from Rust) on the descriptor the
SDK builds — the messages a Rust author gets from the compiler."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import flovyn_plugin_rules as rules  # built from sdk-python/rules by scripts/python-env
from flovyn.plugin.v1 import plugin_pb2 as pb
from flovyn_plugin import Plugin, public
from flovyn_plugin._describe import FORMAT_VERSION, describe


def broken(plugin: Plugin[Any]) -> list[str]:
    response = pb.DescribeResponse(format=FORMAT_VERSION, plugin=describe(plugin))
    result: list[str] = rules.check(response.SerializeToString())
    return result


def test_a_plugin_that_follows_the_rules(plugin: Plugin[Any]) -> None:
    assert broken(plugin) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.migration(2, "create_tags", sql="CREATE TABLE tags (id TEXT)"),
            "table `tags` must be named `p_notes__tags`",
        ),
        (
            lambda p: p.migration(1, "again", sql="CREATE TABLE p_notes__x (id TEXT)"),
            "strictly increasing: 1 comes after 1",
        ),
        (
            lambda p: p.app.get("/bad path", dependencies=[public])(_handler),
            "`/bad path`",
        ),
        (
            lambda p: p.task(every="soon")(_task),
            "`soon`",
        ),
    ],
)
def test_each_rule_is_reported(plugin: Plugin[Any], change: Any, message: str) -> None:
    change(plugin)
    problems = broken(plugin)
    assert any(message in p for p in problems), problems


def test_a_bad_plugin_name() -> None:
    plugin: Plugin[Any] = Plugin(name="Notes_Plugin", version="0.1.0")
    problems = broken(plugin)
    assert any("`Notes_Plugin`" in p and "kebab-case" in p for p in problems), problems


async def _handler() -> None:
    return None


async def _task() -> None:
    return None


def test_the_command(tmp_path: Path) -> None:
    (tmp_path / "good_plugin.py").write_text(
        textwrap.dedent(
            """
            from flovyn_plugin import Plugin
            plugin = Plugin(name="good", version="0.1.0")
            plugin.migration(1, "create", sql="CREATE TABLE p_good__items (id TEXT)")
            """
        )
    )
    (tmp_path / "bad_plugin.py").write_text(
        textwrap.dedent(
            """
            from flovyn_plugin import Plugin
            plugin = Plugin(name="bad", version="0.1.0")
            plugin.migration(1, "create", sql="CREATE TABLE items (id TEXT)")
            """
        )
    )

    def run(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flovyn_plugin.cli", "check", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    good = run("good_plugin")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == (
        "plugin `good` 0.1.0 follows the naming rules: 0 routes, 1 migration, "
        "0 subscriptions, 0 tasks"
    )
    bad = run("bad_plugin")
    assert bad.returncode == 1
    assert "error: plugin `bad`: " in bad.stderr
    assert "table `items` must be named `p_bad__items`" in bad.stderr
    missing = run("no_such_module")
    assert missing.returncode == 2
    assert "cannot import `no_such_module`" in missing.stderr


def test_load_finds_the_plugin_in_a_file_or_a_module(tmp_path: Path) -> None:
    from flovyn_plugin.cli import load

    (tmp_path / "file_plugin.py").write_text(
        "from flovyn_plugin import Plugin\nnotes = Plugin(name='in-a-file', version='0.1.0')\n"
    )
    loaded = load(f"{tmp_path / 'file_plugin.py'}:notes")
    assert not isinstance(loaded, str), loaded
    assert loaded[0].name == "in-a-file"
    assert (
        load(str(tmp_path / "file_plugin.py"))
        == f"`{tmp_path / 'file_plugin.py'}` has no Plugin named `plugin`"
    )
    assert isinstance(load("no_such_module_at_all"), str)
