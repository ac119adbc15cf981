"""Errors as every Flovyn response gives them: ``{"error": {"code": …, "message": …}}``.

Installs the handlers that make a FastAPI app answer in that form (its ``HTTPException``, its
request validation, the SDK's :class:`ApiError`, and anything unhandled), and holds the
``ErrorBody`` schema exactly as the server publishes it, so the merged spec keeps one entry.
"""

from __future__ import annotations

import sys
import traceback
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

#: The schemas the server publishes for every error response (the Rust SDK's ``ErrorBody``
#: and ``ErrorDetail``), byte for byte in content: equal schemas merge into one entry.
ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorBody": {
        "type": "object",
        "description": 'The JSON body of every error response: `{"error":{"code":…,"message":…}}`.',
        "required": ["error"],
        "properties": {
            "error": {"$ref": "#/components/schemas/ErrorDetail", "description": "The error."}
        },
    },
    "ErrorDetail": {
        "type": "object",
        "description": "The `error` object of an error response.",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "Stable, machine-readable code in snake_case (`not_found`).",
            },
            "message": {"type": "string", "description": "Human-readable message."},
        },
    },
}

ERROR_BODY_REF = "#/components/schemas/ErrorBody"


class ApiError(Exception):
    """An error a handler raises; answered as JSON with its status.

    >>> ApiError.not_found("no note with id `42`").status
    404
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "bad_request", message)

    @classmethod
    def forbidden(cls, message: str) -> ApiError:
        return cls(403, "forbidden", message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, "not_found", message)

    @classmethod
    def conflict(cls, message: str) -> ApiError:
        return cls(409, "conflict", message)

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, "unauthorized", "authentication required")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route answers besides FastAPI's own, for its ``responses=``:
    ``@app.get("/notes/{id}", responses=error_responses(404))`` documents the 404 a handler
    raises with :class:`ApiError`, in the server's error form — so the spec, and a client
    generated from it, know it."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}},
        }
        for status in statuses
    }


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def code_for(status: int) -> str:
    """The server's machine-readable code for a status (``not_found``, ``internal``…)."""
    if status >= 500:
        return "internal"
    if status == 422:
        # The name the server uses (the HTTP library's reason phrase), whatever Python's is.
        return "unprocessable_entity"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return f"http_{status}"
    return phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")


def report(plugin: str, what: str, error: BaseException) -> None:
    """A failure for the operator: a line naming the plugin and ``what`` failed, then the
    traceback, on stderr — which the host logs under the plugin's name."""
    print(f"plugin `{plugin}`: {what}", file=sys.stderr)
    traceback.print_exception(error, file=sys.stderr)
    sys.stderr.flush()


def request_id(request: Request) -> str:
    value = request.scope.get("flovyn.request_id")
    return value if isinstance(value, str) and value else "none"


def install(app: FastAPI, plugin: str) -> None:
    """Makes ``app`` answer every error in the server's JSON form."""

    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code >= 500:
            message = f"internal error (request id {request_id(request)})"
        elif isinstance(exc.detail, str) and exc.detail:
            message = exc.detail
        else:
            message = code_for(exc.status_code).replace("_", " ")
        return JSONResponse(
            error_body(code_for(exc.status_code), message),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # As the server's own routes answer: a body that is not JSON at all is 400, a body
        # that is JSON but off the schema is 422.
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return JSONResponse(
                error_body("bad_request", "the request body is not valid JSON"), status_code=400
            )
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse(
            error_body("unprocessable_entity", "; ".join(problems) or "invalid request"),
            status_code=422,
        )

    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to stderr, which the host logs under the plugin's name; the
        # client sees only the request id to quote.
        rid = request_id(request)
        where = f"{request.method} {request.url.path} (request id {rid})"
        report(plugin, f"unhandled exception in {where}", exc)
        return JSONResponse(
            error_body("internal", f"internal error (request id {rid})"), status_code=500
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unhandled)
