"""The runtime client's configuration and how botocore errors become public ones."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from rag_app.errors import ModelBusy, ModelNotReady, RagError, UpstreamFailed, UpstreamTimedOut
from rag_app.services.sagemaker_runtime import (
    CONNECT_TIMEOUT_S,
    MAX_RETRIES,
    SageMakerRuntime,
    translate_error,
)


def client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "InvokeEndpoint",
    )


def test_client_is_created_once_with_timeouts_and_adaptive_retries(
    rag_env: dict[str, str],
) -> None:
    runtime = SageMakerRuntime("twin-endpoint", read_timeout_s=25.0)
    assert not runtime.opened

    client = runtime.client

    assert runtime.client is client
    config = client.meta.config
    assert config.connect_timeout == CONNECT_TIMEOUT_S
    assert config.read_timeout == 25.0
    # botocore stores retries after the first attempt as total attempts.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": MAX_RETRIES + 1}
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "https://runtime.sagemaker.eu-west-1.amazonaws.com"


def test_endpoint_url_comes_from_the_standard_variable(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:8080")

    client = SageMakerRuntime("twin-endpoint", read_timeout_s=5.0).client

    assert client.meta.endpoint_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("error", "expected", "retry_after"),
    [
        (
            client_error("ValidationError", "Inference Component has no capacity", 400),
            ModelNotReady,
            60,
        ),
        (client_error("ValidationError", "NO CAPACITY right now", 400), ModelNotReady, 60),
        (client_error("ModelNotReadyException", "not ready", 429), ModelNotReady, 60),
        (client_error("ServiceUnavailable", "unavailable", 503), ModelNotReady, 60),
        (client_error("ThrottlingException", "Rate exceeded", 400), ModelBusy, 5),
        (client_error("ModelError", "Received server error (500)", 424), UpstreamFailed, None),
        (client_error("InternalFailure", "oops", 500), UpstreamFailed, None),
        (client_error("ValidationError", "Endpoint x not found", 400), UpstreamFailed, None),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), UpstreamFailed, None),
        (NoCredentialsError(), UpstreamFailed, None),
        (ReadTimeoutError(endpoint_url="http://x"), UpstreamTimedOut, None),
        (ConnectTimeoutError(endpoint_url="http://x"), UpstreamTimedOut, None),
    ],
)
def test_translate_error(
    error: Exception, expected: type[RagError], retry_after: int | None
) -> None:
    public = translate_error(error, "language model")

    assert type(public) is expected
    assert public is not None
    assert public.retry_after_s == retry_after
    assert public.message.startswith("The language model ")
    assert str(error) not in public.message


def test_unknown_errors_are_not_translated() -> None:
    assert translate_error(ValueError("bug"), "language model") is None
