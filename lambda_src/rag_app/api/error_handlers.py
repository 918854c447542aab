"""Every error as JSON, internals only in logs.

/rag and /health answer {"error": {"code", "message", "request_id"}}; the OpenAI-compatible
/v1 routes answer OpenAI's {"error": {"message", "type", "param", "code"}} plus the request id,
so OpenAI SDKs raise their usual exception for each status.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag_app.api.deps import request_id_of
from rag_app.errors import RagError
from rag_app.log import logger

MAX_REPORTED_PROBLEMS = 5
INTERNAL_ERROR_MESSAGE = "The server failed to answer; the error was logged."
OPENAI_PREFIX = "/v1/"
# OpenAI's error types by status; anything else 4xx is an invalid request.
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


# The failures every answering route documents, by status.
ROUTE_ERRORS = {
    413: "Request body too large",
    422: "Invalid request",
    502: "An upstream failed or answered garbage",
    503: "The model has no capacity yet or is throttled (see Retry-After)",
    504: "An upstream or the whole request ran out of time",
}


def error_responses(
    model: type, more: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` of a route: ROUTE_ERRORS and `more`, with `model` as the body."""
    descriptions = ROUTE_ERRORS | (more or {})
    return {
        status: {"model": model, "description": description}
        for status, description in sorted(descriptions.items())
    }


def openai_error_type(status: int) -> str:
    """The `type` OpenAI gives an error with this status."""
    if status >= 500:
        return "server_error"
    return OPENAI_ERROR_TYPES.get(status, "invalid_request_error")


def error_body(
    status: int, code: str, message: str, request_id: str, *, path: str, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    """The error object in the shape the route's clients expect."""
    if path.startswith(OPENAI_PREFIX):
        return {
            "error": {
                "message": message,
                "type": openai_error_type(status),
                "param": param,
                "code": code,
                "request_id": request_id,
            }
        }
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    retry_after_s: int | None = None,
    *,
    path: str = "",
    param: str | None = None,
) -> JSONResponse:
    """The JSON error every failure answers with."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    body = error_body(status, code, message, request_id, path=path, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_rag_error(request: Request, exc: Exception) -> JSONResponse:
    """A known failure: its public message out, its detail to the log."""
    error = cast(RagError, exc)
    logger.warning(
        "request failed",
        extra={"error_code": error.code, "status": error.status, "detail": error.detail},
    )
    return error_response(
        error.status,
        error.code,
        error.message,
        request_id_of(request),
        error.retry_after_s,
        path=request.url.path,
        param=error.param,
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields at fault, without echoing their values."""
    problems = []
    locations = []
    for error in cast(RequestValidationError, exc).errors()[:MAX_REPORTED_PROBLEMS]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        locations.append(location)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{location or 'body'}: {message}")
    message = "Invalid request: " + "; ".join(problems) + "."
    return error_response(
        422,
        "invalid_request",
        message,
        request_id_of(request),
        path=request.url.path,
        param=locations[0] if locations else None,
    )


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (404, 405, ...) in the same JSON shape."""
    http_error = cast(HTTPException, exc)
    try:
        phrase = HTTPStatus(http_error.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    response = error_response(
        http_error.status_code, code, f"{phrase}.", request_id_of(request), path=request.url.path
    )
    # e.g. the Allow header of a 405
    response.headers.update(http_error.headers or {})
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Route every known exception type to its JSON answer."""
    app.add_exception_handler(RagError, handle_rag_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
