"""The guide's chapter on Python plugins shows this plugin's code as it is: every Python block
in it is a verbatim piece of the plugin or of its tests, and its `[project.scripts]` block one
of `pyproject.toml`."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
CHAPTER = PROJECT.parent.parent / "docs" / "guide" / "10-python-plugin.md"
SOURCES = [PROJECT / "src" / "notes_plugin" / "__init__.py", HERE / "test_notes.py"]


def blocks(language: str) -> list[str]:
    text = CHAPTER.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_every_python_block_is_the_tested_code() -> None:
    sources = [s.read_text(encoding="utf-8") for s in SOURCES]
    found = blocks("python")
    assert len(found) >= 6, f"{CHAPTER} has {len(found)} Python blocks"
    for block in found:
        assert any(block in source for source in sources), f"not in the example:\n{block}"


def test_the_scripts_block_is_the_projects() -> None:
    pyproject = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = [b for b in blocks("toml") if b.startswith("[project.scripts]")]
    assert len(scripts) == 1
    assert scripts[0] in pyproject
