"""InvokeEndpoint on the endpoint's inference components, with botocore errors made public-safe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
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
    """One endpoint's runtime clients, created at first use and shared by all requests.

    Two clients, as they wait differently: a buffered call gets its whole answer within
    `read_timeout_s`; a stream may wait `stream_read_timeout_s` for a part (its first part
    comes only after the model has read the whole prompt).
    """

    def __init__(
        self,
        endpoint_name: str,
        *,
        read_timeout_s: float,
        stream_read_timeout_s: float | None = None,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.read_timeout_s = read_timeout_s
        self.stream_read_timeout_s = stream_read_timeout_s or read_timeout_s
        self._client: Any = None
        self._stream_client: Any = None
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether a client exists yet (nothing is created before the first call)."""
        return self._client is not None or self._stream_client is not None

    @property
    def client(self) -> Any:
        """The client of buffered calls; the first call pays for importing and building it."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._create_client(self.read_timeout_s)
        return self._client

    @property
    def stream_client(self) -> Any:
        """The client of streamed calls."""
        if self._stream_client is None:
            with self._lock:
                if self._stream_client is None:
                    self._stream_client = self._create_client(self.stream_read_timeout_s)
        return self._stream_client

    def reset(self) -> None:
        """Drop both clients and their session (credentials); the next use builds new ones.

        SnapStart calls this after a restore: no environment shares another's.
        """
        with self._lock:
            self._client = None
            self._stream_client = None
            self._session = None

    def _create_client(self, read_timeout_s: float) -> Any:
        # Imported here: botocore would add ~0.2 s to every cold start before the first request.
        # botocore alone: boto3's session would add its resource layer and s3transfer.
        import botocore.session  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=read_timeout_s,
            retries={"mode": "adaptive", "max_attempts": MAX_RETRIES},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        # A session of this runtime's own (the default one is not safe to share across
        # threads), used under the lock and shared by both clients: the service model and
        # credentials load once. The endpoint URL comes from AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME
        # when set (local mode).
        if self._session is None:
            self._session = botocore.session.get_session()
        return self._session.create_client("sagemaker-runtime", config=config)

    def invoke_json(self, component: str, payload: dict[str, Any], role: str) -> Any:
        """Send `payload` to one component and parse its JSON answer (blocking)."""
        body = json.dumps(payload).encode()
        with _public_errors(role):
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                InferenceComponentName=component,
                ContentType="application/json",
                Accept="application/json",
                Body=body,
            )
            raw = response["Body"].read()
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

    def _open_stream(self, component: str, payload: dict[str, Any], role: str) -> Any:
        with _public_errors(role):
            response = self.stream_client.invoke_endpoint_with_response_stream(
                EndpointName=self.endpoint_name,
                InferenceComponentName=component,
                ContentType="application/json",
                Accept="text/event-stream",
                Body=json.dumps(payload).encode(),
            )
        return response["Body"]

    async def open_stream(
        self, component: str, payload: dict[str, Any], *, role: str
    ) -> ResponseStream:
        """InvokeEndpointWithResponseStream; the answer's payload parts arrive as they come."""
        events = await run_blocking(self._open_stream, component, payload, role)
        return ResponseStream(events, role)


class ResponseStream:
    """The payload parts of one streamed invocation, read by a thread of their own.

    One thread per stream rather than a worker-thread hop per part: a token is often a part.
    """

    _END = object()

    def __init__(self, events: Any, role: str) -> None:
        self._events = events
        self._role = role
        self._closed = threading.Event()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._reader = threading.Thread(
            target=self._read, args=(loop,), name="response-stream", daemon=True
        )
        self._reader.start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        def put(item: Any) -> None:
            # The loop is gone if the app stopped mid-stream: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._queue.put_nowait, item)

        try:
            for event in self._events:
                part = event.get("PayloadPart", {}).get("Bytes")
                if part:
                    put(part)
        except Exception as err:
            if not self._closed.is_set():
                put(_stream_error(err, self._role))
        finally:
            put(self._END)

    async def parts(self) -> AsyncIterator[bytes]:
        """Each payload part's bytes; raises the public error if the stream breaks."""
        while (item := await self._queue.get()) is not self._END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop reading and drop the connection, so the model stops generating for nobody."""
        if not self._closed.is_set():
            self._closed.set()
            # While the model still reads the prompt, the reader thread is blocked in recv and
            # holds the socket open: closing alone sends nothing. Shutting the read side
            # (urllib3's HTTPResponse.shutdown, made for this) returns that read, and the
            # close then reaches the endpoint. botocore keeps the response in _raw_stream.
            with contextlib.suppress(Exception):
                self._events._raw_stream.shutdown()
            with contextlib.suppress(Exception):
                self._events.close()

    def expire(self) -> None:
        """Out of time (called on the event loop): parts() raises TimeoutError next."""
        self._queue.put_nowait(TimeoutError())
        self.close()


@contextlib.contextmanager
def _public_errors(role: str) -> Iterator[None]:
    """Re-raise a known upstream failure as its public error; anything else as it is."""
    try:
        yield
    except Exception as err:
        public = translate_error(err, role)
        if public is None:
            raise
        raise public from err


def _stream_error(err: Exception, role: str) -> Exception:
    """The public error for a stream that broke while it was being read."""
    public = translate_error(err, role)
    if public is not None:
        return public
    # Mid-stream, botocore hands on urllib3's own errors (read timeout, dropped connection).
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    if isinstance(err, (ReadTimeoutError, TimeoutError)):
        return UpstreamTimedOut(f"The {role} stopped sending its answer.", detail=repr(err))
    if isinstance(err, (HTTPError, OSError)):
        return UpstreamFailed(f"The {role} stream broke.", detail=repr(err))
    return err


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
