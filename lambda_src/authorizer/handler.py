"""API Gateway REQUEST authorizer: the caller's API key, from the header its route family documents.

`/v1/*` (OpenAI clients) sends `Authorization: Bearer <key>`; every other route sends
`x-api-key: <key>`. Each family has its own authorizer whose identity source is that header, so
API Gateway caches the answer per header value: the key must come from that header alone, or
one caller's cached answer could serve another's request. API Gateway compares the returned
`usageIdentifierKey` with the keys of the stage's usage plan, answers 403 for an unknown one,
and applies that key's throttle and quota; this function only finds the key. Standard library
only, no logging of the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

# API Gateway turns exactly this error message into a 401 (gateway response UNAUTHORIZED).
UNAUTHORIZED = "Unauthorized"
BEARER = "bearer"
API_KEY_HEADER = "x-api-key"
# Routes under this prefix take the key the OpenAI way.
OPENAI_PREFIX = "/v1/"
# methodArn: arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path...>
ARN_PATH_PARTS = 3


class Unauthorized(Exception):
    """No API key where the route expects it."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def route_path(method_arn: str) -> str:
    """The resource path a methodArn names, e.g. /v1/chat/completions."""
    parts = method_arn.split("/")
    return "/" + "/".join(parts[ARN_PATH_PARTS:])


def expected_header(method_arn: str) -> str:
    """The header that carries the key for this route: the authorizer's identity source."""
    return BEARER if route_path(method_arn).startswith(OPENAI_PREFIX) else API_KEY_HEADER


def presented_key(headers: Mapping[str, str] | None, source: str) -> str | None:
    """The key in `source` ("bearer" or "x-api-key"), or None. Header names ignore case."""
    by_name = {name.lower(): value for name, value in (headers or {}).items() if value}
    if source == BEARER:
        scheme, _, credentials = by_name.get("authorization", "").strip().partition(" ")
        key = credentials.strip() if scheme.lower() == BEARER else ""
    else:
        key = by_name.get(API_KEY_HEADER, "").strip()
    return key or None


def principal_id(key: str) -> str:
    """A stable caller id for logs that does not reveal the key."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def stage_methods(method_arn: str) -> str:
    """Every method of the stage: a cached answer is reused for the family's other routes."""
    parts = method_arn.split("/")
    return "/".join(parts[:2]) + "/*"


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    """Allow the request with the presented key as its usage-plan key, or answer 401."""
    method_arn = event["methodArn"]
    source = expected_header(method_arn)
    key = presented_key(event.get("headers"), source)
    if key is None:
        raise Unauthorized
    return {
        "principalId": principal_id(key),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": stage_methods(method_arn),
                }
            ],
        },
        "usageIdentifierKey": key,
        "context": {"keySource": source},
    }
