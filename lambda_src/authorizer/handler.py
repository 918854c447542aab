"""API Gateway REQUEST authorizer: the caller's API key, from `Authorization: Bearer` or `x-api-key`.

API Gateway compares the returned `usageIdentifierKey` with the keys of the stage's usage plan,
answers 403 for an unknown one, and applies that key's throttle and quota; this function only
finds the key. Standard library only, no logging of the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

# API Gateway turns exactly this error message into a 401 (gateway response UNAUTHORIZED).
UNAUTHORIZED = "Unauthorized"
BEARER = "bearer"


class Unauthorized(Exception):
    """No API key in the request."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def presented_key(headers: Mapping[str, str] | None) -> tuple[str, str] | None:
    """(key, where it came from) or None. Header names are matched without regard to case."""
    by_name = {name.lower(): value for name, value in (headers or {}).items() if value}
    authorization = by_name.get("authorization", "").strip()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == BEARER and credentials.strip():
        return credentials.strip(), "bearer"
    api_key = by_name.get("x-api-key", "").strip()
    if api_key:
        return api_key, "x-api-key"
    return None


def principal_id(key: str) -> str:
    """A stable caller id for logs that does not reveal the key."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    """Allow the request with the presented key as its usage-plan key, or answer 401."""
    found = presented_key(event.get("headers"))
    if found is None:
        raise Unauthorized
    key, source = found
    return {
        "principalId": principal_id(key),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "usageIdentifierKey": key,
        "context": {"keySource": source},
    }
