"""Every error as JSON, internals only in logs.

/rag and /health answer {"error": {"code", "message", "request_id"}} (422 for an invalid
request); the OpenAI-compatible /v1 routes answer OpenAI's {"error": {"message", "type",
"param", "code"}} plus the request id, with OpenAI's statuses (400 for an invalid request), so
OpenAI SDKs and the libraries built on them raise their usual exception for each failure.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag_app.api.deps import request_id_of
from rag_app.chat_schemas import FIELDS
from rag_app.errors import RagError
from rag_app.log import logger

MAX_REPORTED_PROBLEMS = 5
INTERNAL_ERROR_MESSAGE = "The server failed to answer; the error was logged."
OPENAI_PREFIX = "/v1/"
# OpenAI's error types by status; anything else 4xx (404 included) is an invalid request.
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}
# OpenAI answers an invalid request with 400 where FastAPI's habit is 422.
OPENAI_STATUS = {422: 400}
# pydantic error types that mean "wrong JSON type" rather than "wrong value".
TYPE_ERRORS = frozenset(
    {
        "bool_type",
        "dict_type",
        "float_type",
        "int_type",
        "list_type",
        "model_type",
        "model_attributes_type",
        "none_required",
        "string_type",
    }
)


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


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIX)


def error_body(
    status: int, code: str, message: str, request_id: str, *, path: str, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    """The error object in the shape the route's clients expect."""
    if is_openai_path(path):
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
    if is_openai_path(path):
        status = OPENAI_STATUS.get(status, status)
    body = error_body(status, code, message, request_id, path=path, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_rag_error(request: Request, exc: Exception) -> JSONResponse:
    """A known failure: its public message out, its detail to the log."""
    error = cast(RagError, exc)
    logger.warning(
        "request failed",
        extra={"error_code": error.code, "status": error.status, "detail": error.detail},
    )
    openai = is_openai_path(request.url.path)
    return error_response(
        error.status,
        (error.openai_code or error.code) if openai else error.code,
        error.message,
        request_id_of(request),
        error.retry_after_s,
        path=request.url.path,
        param=error.param,
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """The fields at fault, without echoing their values: 422 on /rag, OpenAI's 400 on /v1."""
    errors = cast(RequestValidationError, exc).errors()
    if is_openai_path(request.url.path):
        code, message, param = openai_problem(errors[0] if errors else {})
        return error_response(
            400, code, message, request_id_of(request), path=request.url.path, param=param
        )
    problems = []
    locations = []
    for error in errors[:MAX_REPORTED_PROBLEMS]:
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


def openai_problem(error: Any) -> tuple[str, str, str | None]:
    """OpenAI's code, one-sentence message and `param` (a field path, or None) for one error."""
    kind = str(error.get("type", ""))
    location = [part for part in error.get("loc", ()) if part != "body"]
    if kind == "json_invalid":
        return "invalid_json", "We could not parse the JSON body of your request.", None
    if not location:
        if kind == "missing":
            return "invalid_json", "The request body is missing; send a JSON object.", None
        return "invalid_json", "The request body must be a JSON object.", None
    param = field_path(location)
    detail = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    detail = detail[:1].lower() + detail[1:]
    if kind == "missing":
        return "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    if kind == "extra_forbidden":
        return "unknown_parameter", f"Unrecognized request argument supplied: {param}.", param
    if kind in TYPE_ERRORS:
        return "invalid_type", f"Invalid type for '{param}': {detail}.", param
    rule = FIELDS.get(str(location[0])) if len(location) == 1 else None
    if kind == "value_error" and rule is not None and rule.handling == "neutral only":
        return "unsupported_parameter", f"Unsupported value for '{param}': {detail}.", param
    return "invalid_value", f"Invalid value for '{param}': {detail}.", param


def field_path(location: list[Any]) -> str:
    """`messages[0].content` from pydantic's ("messages", 0, "content")."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (404, 405, ...) in the same JSON shape; on /v1 OpenAI's "Invalid URL"."""
    http_error = cast(HTTPException, exc)
    path = request.url.path
    if is_openai_path(path) and http_error.status_code in (404, 405):
        served = ", ".join(served_routes(request, OPENAI_PREFIX))
        message = f"Invalid URL ({request.method} {path}); this API serves {served}."
        response = error_response(
            http_error.status_code, "invalid_url", message, request_id_of(request), path=path
        )
        response.headers.update(http_error.headers or {})
        return response
    try:
        phrase = HTTPStatus(http_error.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    response = error_response(
        http_error.status_code, code, f"{phrase}.", request_id_of(request), path=path
    )
    # e.g. the Allow header of a 405
    response.headers.update(http_error.headers or {})
    return response


def served_routes(request: Request, prefix: str) -> list[str]:
    """`METHOD /path` of every route the app serves under `prefix`, from its OpenAPI schema
    (built once from the router, so routes other modules add are listed too)."""
    paths = request.app.openapi().get("paths", {})
    return [
        f"{method.upper()} {path}"
        for path, operations in sorted(paths.items())
        if path.startswith(prefix)
        for method in operations
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Route every known exception type to its JSON answer.

    A URL with a trailing slash is an unknown URL too: no redirect to a location built from
    the Host header.
    """
    app.router.redirect_slashes = False
    app.add_exception_handler(RagError, handle_rag_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
