"""Request ids, the body size limit and the last-resort 500, as raw ASGI."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from rag_app.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware


def http_scope(headers: list[tuple[bytes, bytes]] | None = None, aws_event: Any = None) -> Scope:
    scope: Scope = {"type": "http", "method": "POST", "path": "/rag", "headers": headers or []}
    if aws_event is not None:
        scope["aws.event"] = aws_event  # what Mangum adds on Lambda
    return scope


def run(app: Any, scope: Scope, bodies: list[bytes]) -> tuple[list[Message], Scope]:
    """Send `bodies` as http.request chunks; returns what the app sent back."""
    incoming: list[Message] = [
        {"type": "http.request", "body": body, "more_body": i < len(bodies) - 1}
        for i, body in enumerate(bodies)
    ]
    incoming.append({"type": "http.disconnect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, scope


async def echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def status_and_body(sent: list[Message]) -> tuple[int, bytes]:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def header(sent: list[Message], name: bytes) -> bytes | None:
    return dict(sent[0]["headers"]).get(name)


def test_request_id_comes_from_api_gateway() -> None:
    event = {"requestContext": {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}}

    sent, scope = run(RequestContextMiddleware(echo_body), http_scope(aws_event=event), [b""])

    assert header(sent, b"x-request-id") == b"c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert scope["state"]["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


@pytest.mark.parametrize(
    "event",
    [None, {}, {"requestContext": {}}, {"requestContext": {"requestId": "bad\r\nheader"}}],
)
def test_request_id_is_generated_otherwise(event: Any) -> None:
    sent, _ = run(RequestContextMiddleware(echo_body), http_scope(aws_event=event), [b""])

    request_id = header(sent, b"x-request-id")
    assert request_id is not None
    assert re.fullmatch(rb"[0-9a-f]{32}", request_id)


def test_unhandled_exception_is_a_json_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("internal detail")

    sent, scope = run(RequestContextMiddleware(broken), http_scope(), [b""])

    status, body = status_and_body(sent)
    assert status == 500
    assert json.loads(body) == {
        "error": {
            "code": "internal_error",
            "message": "The server failed to answer; the error was logged.",
            "request_id": scope["state"]["request_id"],
        }
    }


def test_exception_after_the_response_started_is_not_answered_twice() -> None:
    async def half_sent(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("too late")

    with pytest.raises(RuntimeError, match="too late"):
        run(RequestContextMiddleware(half_sent), http_scope(), [b""])


def test_body_within_the_limit_reaches_the_app_whole() -> None:
    app = BodySizeLimitMiddleware(echo_body, max_bytes=10)

    sent, _ = run(app, http_scope(), [b"12345", b"67890"])

    assert status_and_body(sent) == (200, b"1234567890")


def test_declared_length_over_the_limit_is_413() -> None:
    app = BodySizeLimitMiddleware(echo_body, max_bytes=10)

    sent, _ = run(app, http_scope([(b"content-length", b"11")]), [b"x" * 11])

    status, body = status_and_body(sent)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_streamed_body_over_the_limit_is_413() -> None:
    app = BodySizeLimitMiddleware(echo_body, max_bytes=10)

    sent, _ = run(app, http_scope(), [b"123456", b"789012"])

    assert status_and_body(sent)[0] == 413


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    for middleware in (
        RequestContextMiddleware(lifespan_app),
        BodySizeLimitMiddleware(lifespan_app, max_bytes=1),
    ):
        run(middleware, {"type": "lifespan"}, [])

    assert seen == ["lifespan", "lifespan"]


def test_lambda_web_adapter_context_headers_give_the_ids() -> None:
    # Under the Web Adapter there is no Mangum event: API Gateway's requestContext and the
    # Lambda context arrive as JSON headers.
    headers = [
        (b"x-amzn-request-context", json.dumps({"requestId": "gw-req-7"}).encode()),
        (b"x-amzn-lambda-context", json.dumps({"request_id": "lambda-req-9"}).encode()),
    ]
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        from rag_app.log import logger

        seen.update(logger.thread_safe_get_current_keys())
        await echo_body(scope, receive, send)

    sent, scope = run(RequestContextMiddleware(app), http_scope(headers), [b"{}"])

    assert header(sent, b"x-request-id") == b"gw-req-7"
    assert scope["state"]["request_id"] == "gw-req-7"
    assert seen["lambda_request_id"] == "lambda-req-9"


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b'{"requestId": "bad id!"}'])
def test_a_garbled_adapter_header_gets_a_fresh_id(value: bytes) -> None:
    sent, _ = run(
        RequestContextMiddleware(echo_body),
        http_scope([(b"x-amzn-request-context", value)]),
        [b"{}"],
    )

    assert re.fullmatch(rb"[0-9a-f]{32}", header(sent, b"x-request-id") or b"")


def test_openai_routes_get_their_own_body_limit_and_error_shape() -> None:
    middleware = BodySizeLimitMiddleware(echo_body, max_bytes=10, limits={"/v1/": 100})
    scope = http_scope()
    scope["path"] = "/v1/chat/completions"

    accepted, _ = run(middleware, dict(scope), [b"x" * 50])
    refused, _ = run(middleware, dict(scope), [b"x" * 101])

    assert status_and_body(accepted) == (200, b"x" * 50)
    status, body = status_and_body(refused)
    assert status == 413
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "payload_too_large")
    assert "100 bytes" in error["message"]
