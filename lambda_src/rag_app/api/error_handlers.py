"""Every error as JSON {"error": {"code", "message", "request_id"}}; internals only in logs."""

from __future__ import annotations

from http import HTTPStatus
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag_app.api.deps import request_id_of
from rag_app.errors import RagError
from rag_app.log import logger

MAX_REPORTED_PROBLEMS = 5
INTERNAL_ERROR_MESSAGE = "The server failed to answer; the error was logged."


def error_response(
    status: int, code: str, message: str, request_id: str, retry_after_s: int | None = None
) -> JSONResponse:
    """The JSON error body every failure answers with."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_rag_error(request: Request, exc: Exception) -> JSONResponse:
    """A known failure: its public message out, its detail to the log."""
    error = cast(RagError, exc)
    logger.warning(
        "request failed",
        extra={"error_code": error.code, "status": error.status, "detail": error.detail},
    )
    return error_response(
        error.status, error.code, error.message, request_id_of(request), error.retry_after_s
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields at fault, without echoing their values."""
    problems = []
    for error in cast(RequestValidationError, exc).errors()[:MAX_REPORTED_PROBLEMS]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(problems) + "."
    return error_response(422, "invalid_request", message, request_id_of(request))


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (404, 405, ...) in the same JSON shape."""
    http_error = cast(HTTPException, exc)
    try:
        phrase = HTTPStatus(http_error.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    response = error_response(http_error.status_code, code, f"{phrase}.", request_id_of(request))
    # e.g. the Allow header of a 405
    response.headers.update(http_error.headers or {})
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Route every known exception type to its JSON answer."""
    app.add_exception_handler(RagError, handle_rag_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
