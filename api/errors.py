"""Every error leaves the API as `{"error": {"status", "message", "details"}}`.

Validation errors list each bad field with what was wrong, so a client can fix the request
without reading the server's logs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from feature_store.online import StoreUnavailableError

log = logging.getLogger(__name__)

#: seconds a client is told to wait before retrying a write refused while a store is down.
RETRY_AFTER_S = 2
#: FastAPI's 400 for a body it cannot decode; malformed JSON is its 422 (and ours) already.
FASTAPI_BODY_ERROR = "There was an error parsing the body"


class ApiError(Exception):
    """An error with its HTTP status, raised by routers and dependencies."""

    def __init__(self, status: int, message: str, details: list[dict[str, object]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def error_response(
    status: int, message: str, details: list[dict[str, object]] | None = None
) -> JSONResponse:
    body = {"error": {"status": status, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status)


def field_errors(errors: Sequence[Any]) -> list[dict[str, object]]:
    """Pydantic's errors reduced to where and what (no echo of the input)."""
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": str(e.get("msg", ""))}
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = field_errors(exc.errors())
        where = ", ".join(str(d["field"]) for d in details[:5])
        return error_response(422, f"the request is invalid: fix {where}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 400 and message == FASTAPI_BODY_ERROR:
            # a body FastAPI could not even decode (not UTF-8): invalid like any other bad JSON
            return error_response(422, "the body is not JSON (UTF-8 JSON is expected)")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; see /docs for the API"
        elif exc.status_code == 405:
            message = "this method is not allowed on this route; see /docs"
        return error_response(exc.status_code, message)

    @app.exception_handler(StoreUnavailableError)
    async def unavailable(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        # a write that could neither reach its store nor be buffered: refused, never dropped
        response = error_response(503, f"temporarily unavailable, retry shortly: {exc}")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, f"internal error ({type(exc).__name__}); it has been logged")
