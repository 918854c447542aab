"""Runs one input line through the app's own chat route and turns the answer into a result.

The client is an httpx client: over the network to the local API, or in-process through
httpx.ASGITransport in the Lambda entry, so validation, statuses and bodies are the route's.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx

from rag_app.batch.models import InputLine, LineError, LineResponse, LineResult, new_id

# The app's answer while the LLM has no copy yet: wait for the wake-up, do not fail the line.
WAKING_CODES = frozenset({"model_not_ready"})
# Throttling and transient upstream failures: worth another try soon.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

Outcome = Literal["answered", "waking", "transient"]


class LineRetry(Exception):
    """The line must run again later; the class name is what Step Functions' Retry matches."""

    def __init__(self, outcome: Outcome, result: LineResult) -> None:
        super().__init__(f"{result.custom_id}: {outcome}")
        self.outcome = outcome
        self.result = result


class ModelWaking(LineRetry):
    """The LLM is at zero copies and waking up."""


class LineTransient(LineRetry):
    """Throttled, or an upstream failed in a way another try may not."""


def classify(status_code: int, body: Any) -> Outcome:
    """Whether an answer is final or worth another try, and which kind of wait it needs."""
    if status_code not in TRANSIENT_STATUSES:
        return "answered"
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return "waking" if code in WAKING_CODES else "transient"


async def run_line(client: httpx.AsyncClient, line: InputLine) -> LineResult:
    """The line's result; raises ModelWaking or LineTransient when it should run again."""
    try:
        response = await client.post(line.url, json=line.body)
    except httpx.TransportError as err:
        result = _error(line, "connection_error", "The request could not reach the API.")
        raise LineTransient("transient", result) from err
    body = _json_or_text(response)
    result = LineResult(
        id=new_id("batch_req_"),
        custom_id=line.custom_id,
        response=LineResponse(
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id", ""),
            body=body,
        ),
    )
    outcome = classify(response.status_code, body)
    if outcome == "waking":
        raise ModelWaking(outcome, result)
    if outcome == "transient":
        raise LineTransient(outcome, result)
    return result


def _error(line: InputLine, code: str, message: str) -> LineResult:
    return LineResult(
        id=new_id("batch_req_"),
        custom_id=line.custom_id,
        error=LineError(code=code, message=message),
    )


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text
