"""The local stand-in for the SageMaker runtime: InvokeEndpoint and its streaming variant.

Routes by endpoint name and the `X-Amzn-SageMaker-Inference-Component` header to local model
containers, and answers with SageMaker's status codes, headers, event-stream framing and
error shapes. Run it with `python -m local.server --model NAME`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from local import aws_errors, eventstream
from local.console import say
from local.containers import Container, ContainerResponse
from local.llm import Cancel
from local.settings import REGION

COMPONENT_HEADER = "x-amzn-sagemaker-inference-component"
MAX_BODY_BYTES = 6 * 1024 * 1024
# SageMaker gives a container 60 s to answer InvokeEndpoint.
MODEL_TIMEOUT_S = 60.0
_REGION_IN_SIGNATURE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")


@dataclass
class Runtime:
    """One endpoint and the containers behind its inference components."""

    endpoint: str
    components: dict[str, Container]
    timeout_s: float = MODEL_TIMEOUT_S
    invocations: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    # Invocations accepted and not yet answered, by request id.
    running: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Components scaled to zero copies: SageMaker refuses their invocations.
    scaled_to_zero: set[str] = field(default_factory=set)

    def close(self) -> None:
        for container in self.components.values():
            container.close()


def _region(request: Request) -> str:
    """The region the caller signed for, so ARNs in errors look like theirs."""
    found = _REGION_IN_SIGNATURE.search(request.headers.get("authorization", ""))
    return found.group(1) if found else REGION


async def _join(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def _cancel_on_disconnect(request: Request, cancel: threading.Event) -> None:
    """Set `cancel` once the HTTP client has gone (its body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    cancel.set()


class _CallerGone(Exception):
    """The HTTP client disconnected before the answer was ready."""


class Invoker:
    """The two invocation operations over one `Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _resolve(self, request: Request, request_id: str) -> tuple[str, Container] | Response:
        endpoint = request.path_params["endpoint"]
        if endpoint != self.runtime.endpoint:
            return aws_errors.validation_error(
                f"Endpoint {endpoint} of account {aws_errors.ACCOUNT} not found.", request_id
            )
        component = request.headers.get(COMPONENT_HEADER)
        if not component:
            return aws_errors.validation_error(
                "Inference Component Name header is required for endpoints to which you plan "
                "to deploy inference components. Please include Inference Component Name "
                "header or consider using SageMaker models.",
                request_id,
            )
        container = self.runtime.components.get(component)
        if container is None:
            known = ", ".join(sorted(self.runtime.components))
            return aws_errors.validation_error(
                f"Inference Component {component} not found on endpoint {endpoint} "
                f"(local mode serves: {known}).",
                request_id,
            )
        if component in self.runtime.scaled_to_zero:
            return aws_errors.validation_error(aws_errors.NO_CAPACITY, request_id)
        return component, container

    def _log(self, record: dict[str, Any]) -> None:
        self.runtime.running.pop(record["request_id"], None)
        self.runtime.invocations.append(record)
        stats = record.get("stats", {})
        detail = ""
        if "input_tokens" in stats:
            detail = f" in={stats['input_tokens']} out={stats.get('generated_tokens', '?')}"
            if stats.get("finish_reason"):
                detail += f" ({stats['finish_reason']})"
        if "error" in stats:
            detail += f" error: {stats['error']}"
        say(
            f"{record['operation']} {record['component']} -> {record['status']}"
            f"{detail} {record['seconds']:.2f}s"
        )

    def _record(
        self,
        operation: str,
        component: str,
        status: int,
        started: float,
        stats: dict[str, Any],
        request_id: str,
    ) -> dict[str, Any]:
        return {
            "request_id": request_id,
            "operation": operation,
            "component": component,
            "status": status,
            "seconds": time.perf_counter() - started,
            "finished_at": time.time(),
            "stats": stats,
        }

    async def _await_answer(
        self,
        request: Request,
        work: Coroutine[Any, Any, tuple[ContainerResponse, bytes]],
        cancel: threading.Event,
    ) -> tuple[ContainerResponse, bytes]:
        """The container's answer, unless the model timeout passes or the caller hangs up.

        Either way `cancel` is set, so the LLM does not keep generating for nobody (TGI also
        drops requests whose client went away).
        """
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.runtime.timeout_s
        try:
            while True:
                await asyncio.wait({task}, timeout=min(0.5, max(deadline - loop.time(), 0)))
                if task.done():
                    return task.result()
                if loop.time() >= deadline:
                    raise TimeoutError
                if await request.is_disconnected():
                    raise _CallerGone
        finally:
            if not task.done():
                cancel.set()
                task.cancel()

    async def _accept(
        self, request: Request
    ) -> tuple[str, float, str, Container, bytes] | Response:
        """Request id, start time, component, its container and the body, or the AWS error."""
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        resolved = self._resolve(request, request_id)
        if isinstance(resolved, Response):
            return resolved
        component, container = resolved
        body = await self._body(request, request_id)
        if isinstance(body, Response):
            return body
        self.runtime.running[request_id] = {"component": component, "started_at": time.time()}
        return request_id, started, component, container, body

    async def _body(self, request: Request, request_id: str) -> bytes | Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return aws_errors.validation_error(
                f"Request body is {len(body)} bytes; InvokeEndpoint accepts at most "
                f"{MAX_BODY_BYTES} bytes.",
                request_id,
            )
        return body

    async def invoke_endpoint(self, request: Request) -> Response:
        """InvokeEndpoint: the container's whole answer, or a ModelError if it failed."""
        accepted = await self._accept(request)
        if isinstance(accepted, Response):
            return accepted
        request_id, started, component, container, body = accepted
        cancel = Cancel()

        async def call() -> tuple[ContainerResponse, bytes]:
            answer = await container.invoke(body, cancel)
            return answer, await _join(answer.chunks)

        try:
            answer, data = await self._await_answer(request, call(), cancel)
        except TimeoutError:
            stats: dict[str, Any] = {"error": f"timed out after {self.runtime.timeout_s:.0f} s"}
            cancel.stats = stats
            self._log(self._record("InvokeEndpoint", component, 424, started, stats, request_id))
            return aws_errors.model_timeout(
                component, _region(request), request_id, self.runtime.timeout_s
            )
        except _CallerGone:
            stats = {"error": "the caller disconnected; generation cancelled"}
            # The engine adds where it stopped ("cancelled") once it has seen the cancellation.
            cancel.stats = stats
            self._log(self._record("InvokeEndpoint", component, 499, started, stats, request_id))
            return Response(status_code=499)
        self._log(
            self._record(
                "InvokeEndpoint", component, answer.status, started, answer.stats, request_id
            )
        )
        if not 200 <= answer.status < 300:
            return aws_errors.model_error(
                answer.status, data, component, _region(request), request_id
            )
        return Response(
            data,
            media_type=answer.content_type,
            headers={
                "x-Amzn-Invoked-Production-Variant": "AllTraffic",
                "x-amzn-RequestId": request_id,
            },
        )

    async def invoke_endpoint_with_response_stream(self, request: Request) -> Response:
        """InvokeEndpointWithResponseStream: container bytes as `PayloadPart` events."""
        accepted = await self._accept(request)
        if isinstance(accepted, Response):
            return accepted
        request_id, started, component, container, body = accepted
        cancel = Cancel()
        answer = await container.invoke(body, cancel)
        cancel.stats = answer.stats
        operation = "InvokeEndpointWithResponseStream"
        if not 200 <= answer.status < 300:
            data = await _join(answer.chunks)
            self._log(
                self._record(operation, component, answer.status, started, answer.stats, request_id)
            )
            return aws_errors.model_error(
                answer.status, data, component, _region(request), request_id
            )

        async def events() -> AsyncIterator[bytes]:
            status = answer.status
            cutter = eventstream.Misaligner()
            # Nothing is written while the model reads the prompt, so only listening tells
            # that the caller has gone.
            watcher = asyncio.ensure_future(_cancel_on_disconnect(request, cancel))
            try:
                async for chunk in answer.chunks:
                    if part := cutter.feed(chunk):
                        yield eventstream.payload_part(part)
                if tail := cutter.flush():
                    yield eventstream.payload_part(tail)
            except Exception as err:
                status = 500
                answer.stats["error"] = f"stream broke: {err}"
                yield eventstream.stream_exception(
                    "ModelStreamError", f"Model stream failed: {err}", "ModelStreamError"
                )
            finally:
                watcher.cancel()
                cancel.set()
                self._log(
                    self._record(operation, component, status, started, answer.stats, request_id)
                )

        return StreamingResponse(
            events(),
            media_type=eventstream.CONTENT_TYPE,
            headers={
                "X-Amzn-SageMaker-Content-Type": answer.content_type,
                "x-Amzn-Invoked-Production-Variant": "AllTraffic",
                "x-amzn-RequestId": request_id,
            },
        )

    async def ping(self, request: Request) -> Response:
        """Liveness for local tooling: the server only listens once every model is loaded."""
        return JSONResponse(
            {"status": "ok", "endpoint": self.runtime.endpoint, "components": self.components()}
        )

    def components(self) -> dict[str, str]:
        return {name: c.kind for name, c in self.runtime.components.items()}

    async def invocations(self, request: Request) -> Response:
        """Recent invocations, newest last: lets tests and benchmarks see what the LLM did."""
        return JSONResponse(list(self.runtime.invocations))

    async def set_copies(self, request: Request) -> Response:
        """Scale a component to 0 or 1 copies, as autoscaling would: shows the app at zero."""
        body = await request.json()
        component, copies = body.get("component"), body.get("copies")
        if component not in self.runtime.components or copies not in (0, 1):
            return JSONResponse({"error": "give a served component and copies 0 or 1"}, 400)
        if copies == 0:
            self.runtime.scaled_to_zero.add(component)
        else:
            self.runtime.scaled_to_zero.discard(component)
        return JSONResponse({"scaled_to_zero": sorted(self.runtime.scaled_to_zero)})

    async def running(self, request: Request) -> Response:
        """Invocations in progress: lets tests wait until a generation has really started."""
        return JSONResponse(list(self.runtime.running.values()))


def create_app(runtime: Runtime) -> Starlette:
    """The HTTP app; the `/_local/*` and `/ping` routes exist only in local mode."""
    invoker = Invoker(runtime)

    async def unexpected(request: Request, exc: Exception) -> Response:
        return aws_errors.internal_failure(f"local endpoint failure: {exc}", str(uuid.uuid4()))

    return Starlette(
        routes=[
            Route("/endpoints/{endpoint}/invocations", invoker.invoke_endpoint, methods=["POST"]),
            Route(
                "/endpoints/{endpoint}/invocations-response-stream",
                invoker.invoke_endpoint_with_response_stream,
                methods=["POST"],
            ),
            Route("/ping", invoker.ping, methods=["GET"]),
            Route("/_local/invocations", invoker.invocations, methods=["GET"]),
            Route("/_local/running", invoker.running, methods=["GET"]),
            Route("/_local/copies", invoker.set_copies, methods=["POST"]),
        ],
        exception_handlers={Exception: unexpected},
    )
