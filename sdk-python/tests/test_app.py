"""The app as a plugin's own tests see it (``flovyn_plugin.testing``): the access rules and
the server's error form hold without the host."""

from __future__ import annotations

from typing import Any

from flovyn_plugin import Plugin
from flovyn_plugin.testing import caller, client


def test_public_route(plugin: Plugin[Any]) -> None:
    reply = client(plugin).get("/hello", params={"name": "Ada"})
    assert reply.status_code == 200
    assert reply.json() == {"message": "hello, Ada"}


def test_no_caller_is_401_in_the_servers_form(plugin: Plugin[Any]) -> None:
    for path in ("/me", "/notes/1"):
        reply = client(plugin).get(path)
        assert reply.status_code == 401, path
        assert reply.json() == {
            "error": {"code": "unauthorized", "message": "authentication required"}
        }


def test_the_caller_reaches_the_handler(plugin: Plugin[Any]) -> None:
    reply = client(plugin, caller("ada")).get("/me")
    assert reply.status_code == 200
    assert reply.json() == {"principal_id": "ada"}


def test_a_missing_permission_is_403(plugin: Plugin[Any]) -> None:
    reply = client(plugin, caller(permissions=["notes:read"])).post(
        "/notes", json={"id": "1", "title": "t"}
    )
    assert reply.status_code == 403
    assert reply.json()["error"] == {
        "code": "forbidden",
        "message": "this operation needs the `notes:write` permission",
    }
    admin = client(plugin, caller(principal_type="admin", permissions=["*"]))
    assert admin.post("/notes", json={"id": "1", "title": "t"}).status_code == 201


def test_an_api_error_keeps_its_status_and_code(plugin: Plugin[Any]) -> None:
    reply = client(plugin, caller(permissions=["notes:read"])).get("/notes/42")
    assert reply.status_code == 404
    assert reply.json()["error"] == {"code": "not_found", "message": "no note with id `42`"}


def test_validation_error_is_422_in_the_servers_form(plugin: Plugin[Any]) -> None:
    reply = client(plugin, caller(permissions=["notes:write"])).post(
        "/notes", json={"id": "1", "title": ""}
    )
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"]["code"] == "unprocessable_entity"
    assert "body.title" in body["error"]["message"]


def test_an_unknown_path_is_404_json(plugin: Plugin[Any]) -> None:
    reply = client(plugin).get("/nowhere")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


def test_unhandled_exception_is_500_without_the_traceback(plugin: Plugin[Any], capsys: Any) -> None:
    reply = client(plugin, raise_server_exceptions=False).get("/boom")
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal"
    assert "RuntimeError" not in reply.text
    err = capsys.readouterr().err
    assert "plugin `notes`: unhandled exception in GET /boom" in err
    assert "RuntimeError: the handler failed" in err


def test_a_body_that_is_not_json_is_400_as_documented(plugin: Plugin[Any]) -> None:
    writer = client(plugin, caller(permissions=["notes:write"]))
    for body in (b'{"title": ', b"\xff\xfe", b"\x80"):
        reply = writer.post("/notes", content=body, headers={"content-type": "application/json"})
        assert reply.status_code == 400, body
        assert reply.json()["error"]["code"] == "bad_request", body
