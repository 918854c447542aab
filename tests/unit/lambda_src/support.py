"""Test data and helpers for the RAG app: seed points, stubbed answers, Lambda events."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.response import StreamingBody
from botocore.stub import Stubber
from urllib3.response import HTTPResponse

from local.eventstream import payload_part, stream_exception

ENDPOINT = "twin-endpoint"
LLM_COMPONENT = "twin-llm"
EMBEDDING_COMPONENT = "twin-embedding"
RERANKER_COMPONENT = "twin-reranker"
MODEL_ID = "mlabonne/TwinLlama-3.1-8B-DPO"
PROMPT_TEMPLATE = "### Context:\n{context}\n\n### Request: {query}\n\n### Response:"
MAX_INPUT_TOKENS = 2048
DIMENSIONS = 384
AUTHOR_PAUL = "2b1c8a4e-3f1d-4c55-9a7b-6a0d1e2f3a4b"
AUTHOR_MAXIME = "7d3e9f10-5b2a-4e8c-8f6d-1c2b3a4d5e6f"


class HttpResponse(Protocol):
    """What tests read from TestClient (httpx2) and httpx responses alike."""

    status_code: int

    @property
    def headers(self) -> Any: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def unit_vector(similarity: float, axis: int) -> list[float]:
    """A unit vector whose cosine with the query vector (axis 0) is `similarity`."""
    vector = [0.0] * DIMENSIONS
    vector[0] = similarity
    vector[axis] = math.sqrt(max(0.0, 1.0 - similarity**2))
    return vector


QUERY_VECTOR = unit_vector(1.0, 1)


def _point(point_id: str, similarity: float, axis: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": point_id, "vector": unit_vector(similarity, axis), "payload": payload}


ARTICLE_DOC = "0f8fad5b-d9cb-469f-a165-70867728950e"
SEED_POINTS: dict[str, list[dict[str, Any]]] = {
    "embedded_articles": [
        _point(
            "a1f6a0c2-8e2b-4d1c-9a55-3c1e7d2b4f01",
            0.9,
            2,
            {
                "content": "RAG systems retrieve context from a vector database before generating.",
                "platform": "medium",
                "document_id": ARTICLE_DOC,
                "author_id": AUTHOR_PAUL,
                "author_full_name": "Paul Iusztin",
                "link": "https://medium.com/@paul/rag-systems",
            },
        ),
        _point(
            "a2b7c3d4-1e2f-4a5b-8c6d-7e8f9a0b1c02",
            0.5,
            3,
            {
                "content": "Fine-tuning Llama with DPO aligns the model with preferred answers.",
                "platform": "medium",
                "document_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                "author_id": AUTHOR_MAXIME,
                "author_full_name": "Maxime Labonne",
                "link": "https://medium.com/@maxime/dpo",
            },
        ),
    ],
    "embedded_posts": [
        _point(
            "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d01",
            0.8,
            4,
            {
                "content": "Hot take: your RAG pipeline is only as good as its retrieval step.",
                "platform": "linkedin",
                "document_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60",
                "author_id": AUTHOR_PAUL,
                "author_full_name": "Paul Iusztin",
            },
        ),
        # The same article chunk again (same document and text): must be de-duplicated.
        _point(
            "b2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e02",
            0.85,
            5,
            {
                "content": "RAG systems retrieve context from a vector database before generating.",
                "platform": "linkedin",
                "document_id": ARTICLE_DOC,
                "author_id": AUTHOR_PAUL,
                "author_full_name": "Paul Iusztin",
            },
        ),
    ],
    "embedded_repositories": [
        _point(
            "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e01",
            0.7,
            6,
            {
                "content": "def retrieve(query): return qdrant.query_points(...)",
                "platform": "github",
                "document_id": "3e4f5a6b-7c8d-4e9f-0a1b-2c3d4e5f6a70",
                "author_id": AUTHOR_MAXIME,
                "author_full_name": "Maxime Labonne",
                "link": "https://github.com/maxime/llm-twin",
                "name": "llm-twin",
            },
        ),
    ],
}


def point_id_of(collection: str, index: int) -> str:
    return str(SEED_POINTS[collection][index]["id"])


def content_of(collection: str, index: int) -> str:
    return str(SEED_POINTS[collection][index]["payload"]["content"])


class JsonBody:
    """Matches a request Body (bytes) whose JSON equals `expected`."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (bytes, bytearray, str)):
            return NotImplemented
        return bool(json.loads(other) == self.expected)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"


def invoke_response(answer: Any) -> dict[str, Any]:
    """A stubbed InvokeEndpoint answer; bytes are sent as they are (for garbage bodies)."""
    data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"}


def invoke_params(component: str, payload: Any) -> dict[str, Any]:
    """The exact InvokeEndpoint parameters the app must send to `component`."""
    return {
        "EndpointName": ENDPOINT,
        "InferenceComponentName": component,
        "ContentType": "application/json",
        "Accept": "application/json",
        "Body": JsonBody(payload),
    }


def embed_request(query: str) -> dict[str, Any]:
    return {"inputs": query, "normalize": True, "truncate": True}


def expect_embedding(stubber: Stubber, query: str, vector: list[float] | None = None) -> None:
    stubber.add_response(
        "invoke_endpoint",
        invoke_response([vector or QUERY_VECTOR]),
        invoke_params(EMBEDDING_COMPONENT, embed_request(query)),
    )


def tgi_answer(text: str, generated_tokens: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "generated_text": text,
            "details": {"generated_tokens": generated_tokens, "finish_reason": "eos_token"},
        }
    ]


def tgi_request(prompt: str, **overrides: Any) -> dict[str, Any]:
    parameters = {
        "max_new_tokens": 150,
        "temperature": 0.01,
        "top_p": 0.9,
        "repetition_penalty": 1.1,
        "do_sample": True,
        "return_full_text": False,
        "stop": ["<|eot_id|>"],
        "details": True,
        "truncate": MAX_INPUT_TOKENS,
    }
    parameters.update(overrides)
    return {"inputs": prompt, "parameters": parameters}


def expected_prompt(query: str, contents: list[str]) -> str:
    return PROMPT_TEMPLATE.format(context="\n\n---\n\n".join(contents), query=query)


class LambdaContext:
    """The parts of the Lambda context object Mangum and Powertools read."""

    function_name = "llm-twin-rag"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:llm-twin-rag"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/llm-twin-rag"
    log_stream_name = "2024/01/01/[$LATEST]abcdef"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def api_gateway_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    request_id: str | None = None,
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy integration event, as the service sends it."""
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    all_headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        "User-Agent": "pytest",
        "X-Amzn-Trace-Id": "Root=1-65a1b2c3-0123456789abcdef01234567",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "x-api-key": "test-api-key",
        **(headers or {}),
    }
    if base64_body and raw is not None:
        raw = base64.b64encode(raw.encode()).decode()
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "Rk9vQmFyQmF6PQ=",
            "requestTime": "01/Jan/2024:12:00:00 +0000",
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "a1b2c3d4e5",
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": "203.0.113.10",
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": "pytest",
                "user": None,
                "apiKey": "test-api-key",
                "apiKeyId": "abcdef1234",
            },
            "domainName": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
            "apiId": "a1b2c3d4e5",
        },
        "body": raw,
        "isBase64Encoded": base64_body,
    }


class FakeSageMaker:
    """Answers InvokeEndpoint (and its streaming form) at botocore's send step.

    Every call goes through botocore's real parsing, event-stream framing included. Unlike
    a Stubber it never runs dry, so fuzzing and benchmarks can call it at will. The LLM
    speaks TGI's generate contract or, with engine="vllm", OpenAI's.
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        answer_text: str = "Here is my answer.",
        engine: str = "tgi",
        part_size: int = 7,
    ) -> None:
        self.delay_s = delay_s
        self.answer_text = answer_text
        self.engine = engine
        # Payload parts are cut every `part_size` bytes, across lines and characters.
        self.part_size = part_size
        self.calls: list[tuple[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        # Runs in the worker thread before each LLM answer (e.g. to hold or synchronize it).
        self.on_generate: Callable[[], object] | None = None
        # Buffered LLM answers by a word in the prompt (e.g. the helper prompts'), else
        # answer_text.
        self.replies: dict[str, str] = {}
        # A streamed answer ends with this exception event after its tokens, when set.
        self.stream_error: str | None = None
        # Components whose engine differs from `engine` (e.g. a helper component).
        self.engines: dict[str, str] = {}
        # Components that answer SageMaker's "no capacity" refusal (scaled to zero).
        self.scaled_to_zero: set[str] = set()

        self._lock = threading.Lock()

    def install(self, runtime: Any) -> None:
        """Answer the calls of a SageMakerRuntime's clients (or of one boto3 client)."""
        clients = (
            [runtime.client, runtime.stream_client]
            if hasattr(runtime, "stream_client")
            else [runtime]
        )
        for client in clients:
            client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._send)
            client.meta.events.register(
                "before-send.sagemaker-runtime.InvokeEndpointWithResponseStream", self._send_stream
            )

    def _record(self, request: AWSPreparedRequest) -> tuple[str, Any]:
        component = request.headers["X-Amzn-SageMaker-Inference-Component"]
        component = component.decode() if isinstance(component, bytes) else component
        body = request.body
        raw = (
            body
            if isinstance(body, bytes)
            else body.encode()
            if isinstance(body, str)
            else body.read()
        )
        payload = json.loads(raw)
        with self._lock:
            self.calls.append((component, payload))
            self.raw_bodies.append(raw)
        if self.delay_s:
            time.sleep(self.delay_s)
        return component, payload

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        component, payload = self._record(request)
        if component in self.scaled_to_zero:
            return _no_capacity(request)
        engine = self.engines.get(component, self.engine)
        if component == EMBEDDING_COMPONENT:
            # TEI answers one vector per input; a single string is a batch of one.
            inputs = payload["inputs"]
            answer: Any = [QUERY_VECTOR] * (len(inputs) if isinstance(inputs, list) else 1)
        elif component == RERANKER_COMPONENT:
            answer = [{"index": i, "score": 1.0 / (i + 1)} for i in range(len(payload["texts"]))]
        else:
            if self.on_generate is not None:
                self.on_generate()
            text = self._reply_to(payload)
            answer = (
                tgi_answer(text)
                if engine == "tgi"
                else vllm_answer(text, chat="messages" in payload)
            )
        data = json.dumps(answer).encode()
        raw = HTTPResponse(body=io.BytesIO(data), status=200, preload_content=False)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        return AWSResponse(request.url, 200, headers, raw)

    def _reply_to(self, payload: Any) -> str:
        prompt = json.dumps(payload)
        for word, reply in self.replies.items():
            if word in prompt:
                return reply
        return self.answer_text

    def _send_stream(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        _, payload = self._record(request)
        if self.on_generate is not None:
            self.on_generate()
        words = [f"{word} " for word in self.answer_text.split(" ")]
        words[-1] = words[-1].rstrip()
        if self.engine == "tgi" and "messages" in payload:
            data = tgi_chat_stream(words, stop=(payload.get("stop") or [None])[-1])
        elif self.engine == "tgi":
            data = tgi_stream(words)
        else:
            data = vllm_stream(words, chat="messages" in payload)
        frames = [
            payload_part(data[start : start + self.part_size])
            for start in range(0, len(data), self.part_size)
        ]
        if self.stream_error:
            frames.append(
                stream_exception("ModelStreamError", self.stream_error, "ModelStreamError")
            )
        raw = HTTPResponse(body=io.BytesIO(b"".join(frames)), status=200, preload_content=False)
        headers = {
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-SageMaker-Content-Type": "text/event-stream",
        }
        return AWSResponse(request.url, 200, headers, raw)


def _no_capacity(request: AWSPreparedRequest) -> AWSResponse:
    """SageMaker's refusal for a component with no copies."""
    data = json.dumps(
        {
            "ErrorCode": "ValidationError",
            "Message": "Inference Component has no capacity to "
            "process this request. ApplicationAutoScaling may be in-progress (if configured) or "
            "try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API.",
        }
    ).encode()
    raw = HTTPResponse(body=io.BytesIO(data), status=400, preload_content=False)
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationError"}
    return AWSResponse(request.url, 400, headers, raw)


class SilentStream:
    """An InvokeEndpointWithResponseStream body that sends some parts, then nothing until closed."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = threading.Event()

    def __iter__(self) -> Any:
        for part in self.parts:
            yield {"PayloadPart": {"Bytes": part}}
        self.closed.wait(timeout=30)

    def close(self) -> None:
        self.closed.set()


def vllm_answer(text: str, *, chat: bool, completion_tokens: int = 12) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {
        "object": "chat.completion" if chat else "text_completion",
        "choices": [choice],
        "usage": {"prompt_tokens": 42, "completion_tokens": completion_tokens},
    }


def tgi_stream(words: list[str], input_length: int = 42) -> bytes:
    """TGI generate events (`data:` without a space), the last with details."""
    events = []
    for index, word in enumerate(words, start=1):
        last = index == len(words)
        details = (
            {
                "finish_reason": "eos_token",
                "generated_tokens": len(words),
                "input_length": input_length,
            }
            if last
            else None
        )
        event = {
            "index": index,
            "token": {"id": index, "text": word, "logprob": -0.5, "special": False},
            "generated_text": "".join(words) if last else None,
            "details": details,
        }
        events.append(b"data:" + json.dumps(event).encode() + b"\n\n")
    return b"".join(events)


def tgi_chat_stream(words: list[str], stop: str | None) -> bytes:
    """TGI's chat route: `data:` without a space, the role in every delta, the stop string it
    matched kept in the text (then finish_reason stop_sequence), and `data:[DONE]`."""
    pieces = [*words, stop] if stop else words
    events = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        reason = ("stop_sequence" if stop else "stop") if last else None
        chunk = {
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": piece},
                    "finish_reason": reason,
                }
            ],
            "usage": None,
        }
        events.append(b"data:" + json.dumps(chunk).encode() + b"\n\n")
    return b"".join(events) + b"data:[DONE]\n\n"


def vllm_stream(words: list[str], *, chat: bool) -> bytes:
    """vLLM's OpenAI chunks, a usage chunk and [DONE]."""

    def chunk(content: str, finish: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            choice["delta"] = {"content": content}
        else:
            choice["text"] = content
        return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"

    usage = {"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": len(words)}}
    return (
        b"".join(chunk(word) for word in words)
        + chunk("", "stop")
        + b"data: "
        + json.dumps(usage).encode()
        + b"\n\ndata: [DONE]\n\n"
    )


class RecordCollector(logging.Handler):
    """Keeps the app logger's records, and the JSON lines Powertools makes of them."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.line_formatter = formatter
        self.records: list[logging.LogRecord] = []
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        # Formatted here, in the request's context, where its context-local keys live.
        self.lines.append(json.loads(self.line_formatter.format(record)))

    def traces(self) -> list[dict[str, Any]]:
        return [record.prompt_trace for record in self.records if hasattr(record, "prompt_trace")]

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]
