"""The REQUEST authorizer: which header carries the key, what API Gateway gets back, and 401s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.handler import UNAUTHORIZED, Unauthorized, handler, presented_key, principal_id

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/POST/v1/chat/completions"
AUTHORIZER_DIR = Path(__file__).resolve().parents[4] / "lambda_src" / "authorizer"


def event(headers: dict[str, str] | None) -> dict[str, Any]:
    """A REQUEST authorizer event as API Gateway sends it (the fields the handler reads)."""
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer sk-123"}, ("sk-123", "bearer")),
        ({"authorization": "bearer   sk-123  "}, ("sk-123", "bearer")),
        ({"AUTHORIZATION": "BEARER sk-123"}, ("sk-123", "bearer")),
        ({"x-api-key": "k-456"}, ("k-456", "x-api-key")),
        ({"X-Api-Key": " k-456 "}, ("k-456", "x-api-key")),
        # The bearer token wins when a client sends both.
        ({"Authorization": "Bearer sk-123", "x-api-key": "k-456"}, ("sk-123", "bearer")),
        # Another scheme (SigV4, Basic) is not a key: fall back to x-api-key.
        ({"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "k-456"}, ("k-456", "x-api-key")),
    ],
)
def test_finds_the_key_in_either_header(headers: dict[str, str], expected: tuple[str, str]) -> None:
    assert presented_key(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"x-api-key": "   "},
        {"content-type": "application/json"},
    ],
)
def test_missing_or_empty_credentials_raise_api_gateways_unauthorized(
    headers: dict[str, str] | None,
) -> None:
    with pytest.raises(Unauthorized) as caught:
        handler(event(headers), None)
    # API Gateway maps exactly this message to its UNAUTHORIZED (401) gateway response.
    assert str(caught.value) == UNAUTHORIZED == "Unauthorized"


def test_allows_this_method_and_hands_the_key_to_the_usage_plan() -> None:
    result = handler(event({"Authorization": "Bearer sk-123"}), None)
    assert result == {
        "principalId": principal_id("sk-123"),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
            ],
        },
        "usageIdentifierKey": "sk-123",
        "context": {"keySource": "bearer"},
    }


def test_output_never_contains_the_key_outside_the_usage_identifier() -> None:
    result = handler(event({"x-api-key": "k-very-secret"}), None)
    visible = {name: value for name, value in result.items() if name != "usageIdentifierKey"}
    assert "k-very-secret" not in json.dumps(visible)
    # Context values must be strings, numbers or booleans for API Gateway.
    assert all(isinstance(value, str | int | float | bool) for value in result["context"].values())


def test_principal_id_is_stable_and_tells_keys_apart() -> None:
    assert principal_id("a") == principal_id("a")
    assert principal_id("a") != principal_id("b")
    assert principal_id("a").startswith("key-")


def test_runs_with_the_standard_library_alone() -> None:
    """The Lambda package is the folder as it is: nothing beyond the standard library."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import handler; "
        "print(handler.handler({'methodArn': 'm', 'headers': {'x-api-key': 'k'}}, None)"
        "['usageIdentifierKey'])"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(AUTHORIZER_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "k"
