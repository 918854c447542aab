"""POST /v1/chat/completions and GET /v1/models through FastAPI's TestClient, per engine."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.schemas import MAX_CHAT_BODY_BYTES

from ....support import (
    EMBEDDING_COMPONENT,
    LLM_COMPONENT,
    MODEL_ID,
    FakeSageMaker,
    HttpResponse,
    RecordCollector,
    SilentStream,
    content_of,
    expected_prompt,
    vllm_stream,
)

QUESTION = "How do RAG systems use retrieval?"
SYSTEM_PROMPT = "Answer from this context only:\n{context}"
TOP_THREE = [content_of("embedded_articles", 0), content_of("embedded_posts", 0)]


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": QUESTION}], **extra}


@pytest.fixture
def use_engine(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> Iterator[Callable[..., tuple[TestClient, FakeSageMaker]]]:
    """An app for an engine and prompt format, with a fake SageMaker behind it."""
    clients: list[TestClient] = []

    def use(
        engine: str, prompt_format: str = "template", **fake_options: Any
    ) -> tuple[TestClient, FakeSageMaker]:
        monkeypatch.setenv("RAG_LLM_ENGINE", engine)
        monkeypatch.setenv("RAG_PROMPT_FORMAT", prompt_format)
        if prompt_format == "chat":
            monkeypatch.delenv("RAG_PROMPT_TEMPLATE")
            monkeypatch.setenv("RAG_SYSTEM_PROMPT", SYSTEM_PROMPT)
        app = make_app()
        fake = FakeSageMaker(engine=engine, **fake_options)
        fake.install(app.state.pipeline.runtime)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client, fake

    yield use
    for client in clients:
        client.close()


def events_of(response: HttpResponse) -> list[Any]:
    """The SSE `data` payloads of a streamed answer, JSON-decoded except [DONE]."""
    events = [
        line.removeprefix("data: ")
        for line in response.text.split("\n\n")
        if line.startswith("data: ")
    ]
    return [event if event == "[DONE]" else json.loads(event) for event in events]


def llm_call(fake: FakeSageMaker) -> tuple[dict[str, Any], bytes]:
    """The one LLM request: its JSON and the exact bytes sent."""
    [index] = [i for i, (component, _) in enumerate(fake.calls) if component == LLM_COMPONENT]
    return fake.calls[index][1], fake.raw_bodies[index]


def assert_openai_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert LLM_COMPONENT not in error["message"]
    return dict(error)


def test_models_lists_the_served_model(client: TestClient) -> None:
    response = client.get("/v1/models")

    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "llm-twin"}],
    }
    assert client.get(f"/v1/models/{MODEL_ID}").json()["id"] == MODEL_ID
    assert_openai_error(client.get("/v1/models/gpt-4o"), 404, "model_not_found")


def test_vllm_template_config_sends_a_streamed_completion_and_answers(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]], app_logs: RecordCollector
) -> None:
    client, fake = use_engine("vllm", answer_text="Retrieval comes first, then generation.")

    response = client.post("/v1/chat/completions", json=chat_body(max_tokens=64, seed=5))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"] == f"chatcmpl-{response.headers['x-request-id']}"
    assert body["model"] == MODEL_ID
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Retrieval comes first, then generation."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 42, "completion_tokens": 5, "total_tokens": 47}
    assert [source["collection"] for source in body["sources"]][:2] == [
        "embedded_articles",
        "embedded_posts",
    ]
    sent, raw = llm_call(fake)
    expected = {
        "prompt": expected_prompt(QUESTION, [*TOP_THREE, content_of("embedded_repositories", 0)]),
        "max_tokens": 64,
        "temperature": 0.01,
        "stop": ["<|eot_id|>"],
        "top_p": 0.9,
        "seed": 5,
        "repetition_penalty": 1.1,
        "truncate_prompt_tokens": 2048,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert raw == json.dumps(expected).encode()
    assert sent == expected
    [trace] = app_logs.traces()
    assert (trace["route"], trace["streamed"]) == ("chat", False)
    assert trace["prompt_tokens"] == 42
    assert trace["generated_tokens"] == 5
    assert trace["answer"] == "Retrieval comes first, then generation."
    assert {"embed", "search", "first_token", "generate", "total"} <= set(trace["latency_ms"])
    assert trace["latency_ms"]["first_token"] <= trace["latency_ms"]["total"]


def test_chat_format_sends_messages_with_history_and_system_messages(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> None:
    client, fake = use_engine("vllm", "chat")
    messages = [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "What is RAG?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Retrieval first."}]},
        {"role": "user", "content": QUESTION},
    ]

    response = client.post("/v1/chat/completions", json=chat_body(messages=messages))

    assert response.status_code == 200, response.text
    sent, _ = llm_call(fake)
    system, *rest = sent["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Answer from this context only:\n" + TOP_THREE[0])
    assert system["content"].endswith("\n\nAnswer in one sentence.")
    assert rest == [
        {"role": "user", "content": "What is RAG?"},
        {"role": "assistant", "content": "Retrieval first."},
        {"role": "user", "content": QUESTION},
    ]
    assert "prompt" not in sent
    # Retrieval used the last question only.
    [(_, embedded)] = [call for call in fake.calls if call[0] == EMBEDDING_COMPONENT]
    assert embedded["inputs"] == QUESTION


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_streamed_answer_is_openai_chunks_with_sources_usage_and_done(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
    app_logs: RecordCollector,
    engine: str,
) -> None:
    client, _ = use_engine(engine, answer_text="Ünïcode survives any cut.", part_size=3)

    response = client.post(
        "/v1/chat/completions",
        json=chat_body(stream=True, stream_options={"include_usage": True}),
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    *chunks, usage, done = events_of(response)
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == "Ünïcode survives any cut."
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk["usage"] is None for chunk in chunks)
    last = chunks[-1]
    assert last["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert last["sources"][0]["collection"] == "embedded_articles"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 42, "completion_tokens": 4, "total_tokens": 46}
    [trace] = app_logs.traces()
    assert trace["streamed"] is True
    assert trace["error_code"] is None


def test_without_include_usage_there_is_no_usage_chunk(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> None:
    client, _ = use_engine("vllm")

    response = client.post("/v1/chat/completions", json=chat_body(stream=True))

    *chunks, done = events_of(response)
    assert done == "[DONE]"
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_tgi_template_config_streams_the_generate_contract(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> None:
    client, fake = use_engine("tgi")

    response = client.post(
        "/v1/chat/completions", json=chat_body(stream=True, temperature=0, top_p=1, stop="##")
    )

    assert response.status_code == 200, response.text
    sent, _ = llm_call(fake)
    assert sent == {
        "inputs": expected_prompt(QUESTION, [*TOP_THREE, content_of("embedded_repositories", 0)]),
        "parameters": {
            "max_new_tokens": 150,
            "repetition_penalty": 1.1,
            "do_sample": False,
            "return_full_text": False,
            "stop": ["<|eot_id|>", "##"],
            "details": True,
            "truncate": 2048,
        },
        "stream": True,
    }


@pytest.mark.parametrize(
    ("body", "param", "code", "fragment"),
    [
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            "model",
            "missing_required_parameter",
            "Missing required parameter: 'model'",
        ),
        (chat_body(messages=[]), "messages", "invalid_value", "at least 1 item"),
        (
            chat_body(messages=[{"role": "assistant", "content": "hi"}]),
            "messages",
            "invalid_value",
            "last message must come from the user",
        ),
        (
            chat_body(messages=[{"role": "user", "content": "  "}]),
            "messages",
            "invalid_value",
            "empty",
        ),
        (
            chat_body(messages=[{"role": "tool", "content": "x"}]),
            "messages[0].role",
            "invalid_value",
            "'system'",
        ),
        (
            chat_body(messages=[{"role": "user", "content": [{"type": "image_url"}]}]),
            "messages[0].content",
            "invalid_value",
            "only text content parts",
        ),
        (chat_body(n=2), "n", "unsupported_parameter", "one choice per request"),
        (
            chat_body(tools=[{"type": "function"}]),
            "tools",
            "unsupported_parameter",
            "tool calling is not supported",
        ),
        (chat_body(logprobs=True), "logprobs", "unsupported_parameter", "log probabilities"),
        (
            chat_body(response_format={"type": "json_schema"}),
            "response_format",
            "invalid_value",
            "json_schema",
        ),
        (chat_body(temperature=2.5), "temperature", "invalid_value", "less than or equal to 2"),
        (chat_body(stop=["a", "b", "c", "d", "e"]), "stop", "invalid_value", "at most 4"),
        (chat_body(stop=[""]), "stop", "invalid_value", "must not be empty"),
        (
            chat_body(frequency_penalty=0.5),
            "frequency_penalty",
            "unsupported_parameter",
            "repetition penalty",
        ),
        (
            chat_body(best_of=2),
            "best_of",
            "unknown_parameter",
            "Unrecognized request argument supplied: best_of",
        ),
        (chat_body(rag={"k": 99}), "rag.k", "invalid_value", "less than or equal to 20"),
        (chat_body(max_tokens="4"), "max_tokens", "invalid_type", "valid integer"),
        (chat_body(max_tokens=4.0), "max_tokens", "invalid_type", "valid integer"),
        (
            chat_body(stream_options={"include_usage": True}),
            "stream_options",
            "invalid_value",
            "stream is true",
        ),
    ],
)
def test_invalid_requests_are_400_naming_the_field(
    client: TestClient, app: FastAPI, body: dict[str, Any], param: str, code: str, fragment: str
) -> None:
    response = client.post("/v1/chat/completions", json=body)

    error = assert_openai_error(response, 400, code)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert fragment in error["message"]
    # One plain sentence, no pydantic union branches.
    assert error["message"].endswith(".")
    assert "list[" not in error["message"]
    assert not app.state.pipeline.runtime.opened


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"model": "x", "messages": [}', "We could not parse the JSON body of your request."),
        (b"", "The request body is missing; send a JSON object."),
        (b"[1, 2]", "The request body must be a JSON object."),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_with_no_param(
    client: TestClient, content: bytes, message: str
) -> None:
    response = client.post(
        "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
    )

    error = assert_openai_error(response, 400, "invalid_json")
    assert error["param"] is None
    assert error["message"] == message


def test_the_rag_route_keeps_its_own_422(client: TestClient) -> None:
    response = client.post("/rag", json={"query": "x", "k": "3"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_limits_of_the_config_are_400_naming_the_parameter(client: TestClient) -> None:
    too_long = client.post("/v1/chat/completions", json=chat_body(max_completion_tokens=151))

    error = assert_openai_error(too_long, 400, "invalid_value")
    assert "at most 150" in error["message"]
    assert error["param"] == "max_completion_tokens"


def test_four_stops_beside_the_configs_own_are_honoured(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> None:
    client, fake = use_engine("tgi", answer_text="one two three four five six")

    response = client.post("/v1/chat/completions", json=chat_body(stop=["x1", "x2", "x3", "four"]))

    assert response.status_code == 200, response.text
    sent, _ = llm_call(fake)
    # TGI takes four: the config's own first; the app ends the answer at the fifth itself.
    assert sent["parameters"]["stop"] == ["<|eot_id|>", "x1", "x2", "x3"]
    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "one two three"
    assert choice["finish_reason"] == "stop"


def test_unknown_model_is_404_model_not_found(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json=chat_body(model="gpt-4o"))

    error = assert_openai_error(response, 404, "model_not_found")
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "model"


def test_a_conversation_can_be_longer_than_a_rag_body(client: TestClient) -> None:
    big = chat_body(messages=[{"role": "user", "content": "x" * (MAX_CHAT_BODY_BYTES + 1)}])

    response = client.post("/v1/chat/completions", json=big)

    assert_openai_error(response, 413, "payload_too_large")


def test_a_question_over_the_input_budget_is_openais_context_length_exceeded(
    client: TestClient,
) -> None:
    response = client.post(
        "/v1/chat/completions",
        json=chat_body(messages=[{"role": "user", "content": "word " * 3000}]),
    )

    error = assert_openai_error(response, 400, "context_length_exceeded")
    assert error["param"] == "messages"
    assert re.fullmatch(
        r"This model.s maximum context length is 2048 tokens\. However, your messages "
        r"resulted in \d+ tokens\. Please reduce the length of the messages "
        r"\(context_length_exceeded\)\.",
        error["message"],
    )


@pytest.fixture
def no_capacity_llm(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> TestClient:
    client, fake = use_engine("vllm")

    def refuse() -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {
                "Error": {
                    "Code": "ValidationError",
                    "Message": "Inference Component has no capacity",
                }
            },
            "InvokeEndpointWithResponseStream",
        )

    fake.on_generate = refuse
    return client


@pytest.mark.parametrize("stream", [False, True])
def test_no_capacity_before_the_first_token_is_503_json(
    no_capacity_llm: TestClient, stream: bool
) -> None:
    response = no_capacity_llm.post("/v1/chat/completions", json=chat_body(stream=stream))

    error = assert_openai_error(response, 503, "model_not_ready")
    assert error["type"] == "server_error"
    assert response.headers["retry-after"] == "60"
    assert response.headers["content-type"] == "application/json"


def test_a_failure_after_the_first_token_ends_the_stream_with_an_error_event(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]], app_logs: RecordCollector
) -> None:
    client, fake = use_engine("vllm", answer_text="partial answer then")
    fake.stream_error = "CUDA error: device lost"

    response = client.post("/v1/chat/completions", json=chat_body(stream=True))

    assert response.status_code == 200
    events = events_of(response)
    assert "[DONE]" not in events
    error = events[-1]["error"]
    assert error["code"] == "upstream_error"
    assert error["type"] == "server_error"
    assert "device lost" not in error["message"]
    tokens = [e for e in events[:-1] if e["choices"][0]["delta"].get("content")]
    assert tokens
    [trace] = app_logs.traces()
    assert trace["error_code"] == "upstream_error"


def test_the_stream_deadline_is_504(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_STREAM_TIMEOUT_S", "0.3")
    client, fake = use_engine("vllm")
    fake.on_generate = lambda: time.sleep(1.0)

    response = client.post("/v1/chat/completions", json=chat_body(stream=True))

    error = assert_openai_error(response, 504, "deadline_exceeded")
    assert "0.3 s" in error["message"]


def test_the_deadline_mid_stream_ends_it_with_an_error_event(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
    monkeypatch: pytest.MonkeyPatch,
    app_logs: RecordCollector,
) -> None:
    monkeypatch.setenv("RAG_STREAM_TIMEOUT_S", "2")
    client, _ = use_engine("vllm")
    # The model writes one word, then falls silent for longer than the deadline.
    silent = SilentStream([vllm_stream(["one "], chat=False).split(b"\n\n")[0] + b"\n\n"])
    runtime = client.app.state.pipeline.runtime  # type: ignore[attr-defined]
    monkeypatch.setattr(runtime, "_open_stream", lambda *_: silent)

    response = client.post("/v1/chat/completions", json=chat_body(stream=True))

    assert response.status_code == 200
    events = events_of(response)
    # The space after it waits for more text, as the end of an answer is stripped.
    assert events[1]["choices"][0]["delta"]["content"] == "one"
    assert events[-1]["error"]["code"] == "deadline_exceeded"
    assert "[DONE]" not in events
    # The deadline hung up on the model.
    assert silent.closed.is_set()
    [trace] = app_logs.traces()
    assert trace["error_code"] == "deadline_exceeded"


def test_tgi_chat_format_uses_its_chat_route_and_drops_the_kept_stop_string(
    use_engine: Callable[..., tuple[TestClient, FakeSageMaker]],
) -> None:
    client, fake = use_engine("tgi", "chat", answer_text="Plain answer", part_size=5)

    response = client.post(
        "/v1/chat/completions", json=chat_body(stream=True, stop=["\nUser:"], temperature=0.3)
    )

    assert response.status_code == 200, response.text
    sent, _ = llm_call(fake)
    assert sent["messages"][-1] == {"role": "user", "content": QUESTION}
    # TGI's chat route has no repetition penalty or truncation, and top_p stays in (0, 1).
    assert {"repetition_penalty", "truncate_prompt_tokens", "inputs"}.isdisjoint(sent)
    assert sent["stop"] == ["<|eot_id|>", "\nUser:"]
    assert sent["top_p"] == 0.9
    chunks = [event for event in events_of(response) if event != "[DONE]"]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    # TGI sent "Plain answer\nUser:"; the stop string never reaches the caller.
    assert text == "Plain answer"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
