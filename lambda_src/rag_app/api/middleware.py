"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): request ids, body limit, last resort."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_app.api.deps import UNKNOWN_REQUEST_ID
from rag_app.api.error_handlers import INTERNAL_ERROR_MESSAGE, error_response
from rag_app.errors import PayloadTooLarge
from rag_app.log import logger

# API Gateway request ids are UUIDs; anything else is not trusted into a header.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# CORS: the methods the routes use, and the headers a browser client may read. Any request
# header is allowed: OpenAI's browser SDK sends x-stainless-* headers that vary by version.
CORS_METHODS = ["GET", "POST", "DELETE"]
CORS_EXPOSED_HEADERS = ["X-Request-Id", "Retry-After"]
CORS_MAX_AGE_S = 600


# Where the Lambda Web Adapter puts API Gateway's requestContext and the Lambda context.
LWA_REQUEST_CONTEXT = b"x-amzn-request-context"
LWA_LAMBDA_CONTEXT = b"x-amzn-lambda-context"


def _header_json(scope: Scope, name: bytes) -> dict[str, Any]:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                found = json.loads(value)
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
    return {}


def _request_id(scope: Scope) -> str:
    # Mangum hands over the API Gateway event; the Web Adapter sends its context as a header.
    event = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        context = _header_json(scope, LWA_REQUEST_CONTEXT)
    request_id = context.get("requestId")
    if isinstance(request_id, str) and SAFE_REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex


def _lambda_request_id(scope: Scope) -> dict[str, str]:
    # The Lambda request id ties our lines to the platform's.
    lambda_request_id = getattr(scope.get("aws.context"), "aws_request_id", None)
    if lambda_request_id is None:
        lambda_request_id = _header_json(scope, LWA_LAMBDA_CONTEXT).get("request_id")
    return {"lambda_request_id": lambda_request_id} if isinstance(lambda_request_id, str) else {}


class RequestContextMiddleware:
    """Gives each request an id (API Gateway's when there is one), echoed as X-Request-Id.

    It also turns any exception nothing else handled into a generic 500 JSON body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        # Context-local keys: concurrent requests each log their own ids.
        logger.thread_safe_append_keys(request_id=request_id, **_lambda_request_id(scope))
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error")
            if response_started:
                raise
            response = error_response(
                500, "internal_error", INTERNAL_ERROR_MESSAGE, request_id, path=scope["path"]
            )
            await response(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Refuses request bodies over the limit with 413, whether declared or not.

    `max_bytes` applies everywhere but under the path prefixes of `limits`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = limits or {}

    def limit_for(self, path: str) -> int:
        """The body limit of the route at `path`."""
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        if _declared_length(scope) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes)
            return
        # Read the (small) body here: an error raised while FastAPI reads it would become a 400.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        request_id = scope.get("state", {}).get("request_id", UNKNOWN_REQUEST_ID)
        message = f"The request body is larger than {max_bytes} bytes."
        response = error_response(
            413, PayloadTooLarge.code, message, request_id, path=scope["path"]
        )
        await response(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    headers: Any = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def allow_browser_origins(app: FastAPI, origins: list[str]) -> None:
    """Answer CORS preflights and add CORS headers for these origins (credentials not sent)."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=CORS_METHODS,
        allow_headers=["*"],
        expose_headers=CORS_EXPOSED_HEADERS,
        max_age=CORS_MAX_AGE_S,
    )
