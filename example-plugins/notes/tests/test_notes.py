"""The notes plugin's own tests, without a server (``flovyn_plugin.testing``). Storage goes
through the host, so what needs rows is tested with the server (the Rust suite's
``tests/server/python.rs``); here: config, access and validation, which come first."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flovyn_plugin.testing import caller, client
from notes_plugin import plugin


@pytest.fixture(autouse=True)
def configured() -> None:
    plugin.configure('{"max_body_length": 5}')


def test_about_is_public_and_shows_the_config() -> None:
    reply = client(plugin).get("/about")
    assert reply.status_code == 200
    assert reply.json() == {"plugin": "notes", "max_body_length": 5}


def test_every_notes_route_needs_its_permission() -> None:
    reader = client(plugin, caller(permissions=["notes:read"]))
    for method, path in [("POST", "/notes"), ("DELETE", "/notes/1")]:
        assert client(plugin).request(method, path).status_code == 401
        reply = reader.request(method, path, json={"title": "t"})
        assert reply.status_code == 403
        assert (
            reply.json()["error"]["message"] == "this operation needs the `notes:write` permission"
        )
    assert client(plugin, caller()).get("/notes").status_code == 403


def test_a_body_over_the_configured_length_is_refused() -> None:
    writer = client(plugin, caller(permissions=["notes:write"]))
    reply = writer.post("/notes", json={"title": "t", "body": "123456"})
    assert reply.status_code == 422
    assert reply.json()["error"]["message"] == "the body is longer than 5 characters"


def test_the_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="max_body_length"):
        plugin.configure('{"max_body_length": 0}')


def test_it_follows_the_servers_naming_rules(capsys: pytest.CaptureFixture[str]) -> None:
    from flovyn_plugin.cli import run_check

    assert run_check("notes_plugin") == 0
    assert capsys.readouterr().out.startswith("plugin `notes` 0.1.0 follows the naming rules:")
