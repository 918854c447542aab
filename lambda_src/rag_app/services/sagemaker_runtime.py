"""InvokeEndpoint on the endpoint's inference components, with botocore errors made public-safe."""

from __future__ import annotations

import json
import threading
from typing import Any

from rag_app.concurrency import run_blocking
from rag_app.errors import (
    ModelBusy,
    ModelNotReady,
    RagError,
    UpstreamFailed,
    UpstreamTimedOut,
)

CONNECT_TIMEOUT_S = 2.0
# Retries after the first attempt; adaptive mode also slows the client down while throttled.
MAX_RETRIES = 2
# Room for every concurrent request to hold a connection (the default pool is 10).
MAX_POOL_CONNECTIONS = 64
NOT_READY_CODES = frozenset({"ModelNotReadyException", "ServiceUnavailable"})
THROTTLED_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})


class SageMakerRuntime:
    """One endpoint's runtime client, created at first use and shared by all requests."""

    def __init__(self, endpoint_name: str, *, read_timeout_s: float) -> None:
        self.endpoint_name = endpoint_name
        self.read_timeout_s = read_timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the client exists yet (nothing is created before the first call)."""
        return self._client is not None

    @property
    def client(self) -> Any:
        """The boto3 client; the first call pays for importing and building it."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._create_client()
        return self._client

    def _create_client(self) -> Any:
        # Imported here: boto3 would add ~0.2 s to every cold start before the first request.
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=self.read_timeout_s,
            retries={"mode": "adaptive", "max_attempts": MAX_RETRIES},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        # A session of its own: the default session is not safe to share across threads.
        # The endpoint URL comes from AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME when set (local mode).
        return boto3.session.Session().client("sagemaker-runtime", config=config)

    def invoke_json(self, component: str, payload: dict[str, Any], role: str) -> Any:
        """Send `payload` to one component and parse its JSON answer (blocking)."""
        body = json.dumps(payload).encode()
        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                InferenceComponentName=component,
                ContentType="application/json",
                Accept="application/json",
                Body=body,
            )
            raw = response["Body"].read()
        except Exception as err:
            public = translate_error(err, role)
            if public is None:
                raise
            raise public from err
        try:
            return json.loads(raw)
        except ValueError:
            raise UpstreamFailed(
                f"The {role} returned a response that is not JSON.",
                detail=f"{component}: {raw[:200]!r}",
            ) from None

    async def invoke(self, component: str, payload: dict[str, Any], *, role: str) -> Any:
        """`invoke_json` in a worker thread, so the event loop keeps serving other requests."""
        return await run_blocking(self.invoke_json, component, payload, role)


def translate_error(err: Exception, role: str) -> RagError | None:
    """The public error for a failed call to a component, or None for an unknown error."""
    # botocore is loaded by now: the error came from the client.
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        detail = f"{code}: {message}"
        if code in NOT_READY_CODES or "no capacity" in message.lower():
            return ModelNotReady(
                f"The {role} has no capacity yet (it may be scaling up); retry later.",
                detail=detail,
            )
        if code in THROTTLED_CODES:
            return ModelBusy(f"The {role} is throttling requests; retry shortly.", detail=detail)
        return UpstreamFailed(f"The {role} failed to answer.", detail=detail)
    if isinstance(err, (ReadTimeoutError, ConnectTimeoutError)):
        return UpstreamTimedOut(f"The {role} did not answer in time.", detail=repr(err))
    if isinstance(err, BotoCoreError):
        return UpstreamFailed(f"The {role} could not be reached.", detail=repr(err))
    return None
