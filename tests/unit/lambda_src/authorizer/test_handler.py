"""The REQUEST authorizer: which header carries the key, what API Gateway gets back, and 401s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.handler import (
    UNAUTHORIZED,
    Unauthorized,
    expected_header,
    handler,
    presented_key,
    principal_id,
    stage_methods,
)

ARN_PREFIX = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api"
CHAT_ARN = f"{ARN_PREFIX}/POST/v1/chat/completions"
RAG_ARN = f"{ARN_PREFIX}/POST/rag"
AUTHORIZER_DIR = Path(__file__).resolve().parents[4] / "lambda_src" / "authorizer"


def event(headers: dict[str, str] | None, method_arn: str = CHAT_ARN) -> dict[str, Any]:
    """A REQUEST authorizer event as API Gateway sends it (the fields the handler reads)."""
    return {"type": "REQUEST", "methodArn": method_arn, "headers": headers}


@pytest.mark.parametrize(
    ("method_arn", "expected"),
    [
        (CHAT_ARN, "bearer"),
        (f"{ARN_PREFIX}/GET/v1/models", "bearer"),
        (f"{ARN_PREFIX}/POST/v1/files", "bearer"),
        (RAG_ARN, "x-api-key"),
        (f"{ARN_PREFIX}/GET/health", "x-api-key"),
        # Not the /v1/ family, whatever it starts with.
        (f"{ARN_PREFIX}/GET/v1x", "x-api-key"),
    ],
)
def test_each_route_family_has_its_documented_header(method_arn: str, expected: str) -> None:
    assert expected_header(method_arn) == expected


@pytest.mark.parametrize(
    ("headers", "source", "expected"),
    [
        ({"Authorization": "Bearer sk-123"}, "bearer", "sk-123"),
        ({"authorization": "bearer   sk-123  "}, "bearer", "sk-123"),
        ({"AUTHORIZATION": "BEARER sk-123"}, "bearer", "sk-123"),
        ({"x-api-key": "k-456"}, "x-api-key", "k-456"),
        ({"X-Api-Key": " k-456 "}, "x-api-key", "k-456"),
        # Only the family's header counts: its value is what API Gateway caches the answer by.
        ({"Authorization": "Bearer sk-123", "x-api-key": "k-456"}, "bearer", "sk-123"),
        ({"Authorization": "Bearer sk-123", "x-api-key": "k-456"}, "x-api-key", "k-456"),
        ({"x-api-key": "k-456"}, "bearer", None),
        ({"Authorization": "Bearer sk-123"}, "x-api-key", None),
        # Another scheme (SigV4, Basic) is not a key.
        ({"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "k-456"}, "bearer", None),
    ],
)
def test_finds_the_key_only_in_the_familys_header(
    headers: dict[str, str], source: str, expected: str | None
) -> None:
    assert presented_key(headers, source) == expected


@pytest.mark.parametrize(
    ("headers", "method_arn"),
    [
        (None, CHAT_ARN),
        ({}, RAG_ARN),
        ({"Authorization": "Bearer"}, CHAT_ARN),
        ({"Authorization": "Bearer    "}, CHAT_ARN),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, CHAT_ARN),
        ({"x-api-key": "k-456"}, CHAT_ARN),
        ({"Authorization": "Bearer sk-123"}, RAG_ARN),
        ({"x-api-key": "   "}, RAG_ARN),
        ({"content-type": "application/json"}, RAG_ARN),
    ],
)
def test_missing_or_misplaced_credentials_raise_api_gateways_unauthorized(
    headers: dict[str, str] | None, method_arn: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        handler(event(headers, method_arn), None)
    # API Gateway maps exactly this message to its UNAUTHORIZED (401) gateway response.
    assert str(caught.value) == UNAUTHORIZED == "Unauthorized"


def test_allows_the_stage_and_hands_the_key_to_the_usage_plan() -> None:
    result = handler(event({"Authorization": "Bearer sk-123"}), None)
    assert result == {
        "principalId": principal_id("sk-123"),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                # Cached per key: the answer must also allow the family's other routes.
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{ARN_PREFIX}/*"}
            ],
        },
        "usageIdentifierKey": "sk-123",
        "context": {"keySource": "bearer"},
    }


def test_allowed_resource_stays_within_this_api_and_stage() -> None:
    assert stage_methods(RAG_ARN) == f"{ARN_PREFIX}/*"
    assert stage_methods(f"{ARN_PREFIX}/GET/v1/models") == f"{ARN_PREFIX}/*"


def test_output_never_contains_the_key_outside_the_usage_identifier() -> None:
    result = handler(event({"x-api-key": "k-very-secret"}, RAG_ARN), None)
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
        "print(handler.handler({'methodArn': 'arn/api/GET/rag', 'headers': {'x-api-key': 'k'}}, None)"
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
