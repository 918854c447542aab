"""The chat API's edges as OpenAI draws them: every request field, URLs, structured output,
the stream's text, and a caller who hangs up before the first token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.chat_schemas import FIELDS

from ....support import FakeSageMaker, RecordCollector, SilentStream, vllm_stream
from .test_chat import assert_openai_error, chat_body, events_of, llm_call, use_engine

__all__ = ["use_engine"]
EngineApp = Callable[..., tuple[TestClient, FakeSageMaker]]

# A value a caller could mean for each field that is accepted only at its neutral values.
NOT_NEUTRAL: dict[str, Any] = {
    "n": 2,
    "verbosity": "low",
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "tool_choice": "auto",
    "functions": [{"name": "f"}],
    "function_call": "auto",
    "logprobs": True,
    "top_logprobs": 3,
    "logit_bias": {"50256": -100},
    "presence_penalty": 0.5,
    "frequency_penalty": 0.5,
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "mp3"},
    "prediction": {"type": "content", "content": "x"},
    "web_search_options": {},
    "reasoning_effort": "low",
}
IGNORED_VALUES: dict[str, Any] = {
    "user": "user-1",
    "safety_identifier": "hash-1",
    "prompt_cache_key": "conversation-7",
    "prompt_cache_retention": "24h",
    "metadata": {"app": "demo"},
    "store": True,
    "service_tier": "auto",
    "parallel_tool_calls": False,
}
NEUTRAL_ONLY = sorted(name for name, rule in FIELDS.items() if rule.handling == "neutral only")


@pytest.fixture
def client(app: FastAPI, fake_sagemaker: FakeSageMaker) -> Iterator[TestClient]:
    """The app with a fake SageMaker behind it."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_readmes_field_table_is_the_list() -> None:
    readme = (Path(__file__).parents[6] / "README.md").read_text()
    table = readme.split("| field | here | why / how |")[1].split("\n\n")[0]
    rows = [row.split(" | ") for row in table.splitlines() if row.startswith("| `")]

    assert [row[0].strip("| `") for row in rows] == list(FIELDS)
    for name, handling, *_ in rows:
        rule = FIELDS[name.strip("| `")]
        expected = {"honoured": "honoured", "ignored": "accepted, ignored"}
        assert handling == expected.get(rule.handling, handling), name
        if rule.handling == "neutral only":
            assert handling.startswith("refused, unless"), name


def test_every_field_of_the_list_is_a_request_field_and_classified() -> None:
    from rag_app.chat_schemas import ChatCompletionRequest

    assert set(FIELDS) == set(ChatCompletionRequest.model_fields)
    assert set(NOT_NEUTRAL) == set(NEUTRAL_ONLY)
    assert set(IGNORED_VALUES) == {n for n, rule in FIELDS.items() if rule.handling == "ignored"}


@pytest.mark.parametrize(
    ("field", "value"),
    [(name, value) for name in NEUTRAL_ONLY for value in FIELDS[name].neutral],
)
def test_a_neutral_value_is_accepted(client: TestClient, field: str, value: Any) -> None:
    response = client.post("/v1/chat/completions", json=chat_body(**{field: value}))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("field", NEUTRAL_ONLY)
def test_a_value_that_cannot_be_honoured_is_refused_naming_the_field(
    client: TestClient, fake_sagemaker: FakeSageMaker, field: str
) -> None:
    response = client.post("/v1/chat/completions", json=chat_body(**{field: NOT_NEUTRAL[field]}))

    error = assert_openai_error(response, 400, "unsupported_parameter")
    assert error["param"] == field
    assert FIELDS[field].reason in error["message"]
    assert not fake_sagemaker.calls


@pytest.mark.parametrize(("field", "value"), sorted(IGNORED_VALUES.items()))
def test_an_ignored_field_is_accepted_with_any_value(
    client: TestClient, field: str, value: Any
) -> None:
    response = client.post("/v1/chat/completions", json=chat_body(**{field: value}))

    assert response.status_code == 200, response.text


def test_stream_options_fields_are_accepted(client: TestClient) -> None:
    options = {"include_usage": True, "include_obfuscation": False}

    response = client.post(
        "/v1/chat/completions", json=chat_body(stream=True, stream_options=options)
    )

    assert response.status_code == 200
    assert events_of(response)[-2]["usage"]["completion_tokens"] > 0


def test_history_written_back_as_the_sdk_dumps_it_is_accepted(client: TestClient) -> None:
    # openai's ChatCompletionMessage.model_dump() of an earlier answer.
    dumped = {
        "content": "Earlier answer.",
        "refusal": None,
        "role": "assistant",
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": None,
    }
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "First question?"},
        dumped,
        {"role": "user", "content": [{"type": "text", "text": "And then?"}]},
    ]

    response = client.post("/v1/chat/completions", json=chat_body(messages=messages))

    assert response.status_code == 200, response.text


def test_an_assistant_tool_call_in_history_is_refused(client: TestClient) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "hi"},
    ]

    response = client.post("/v1/chat/completions", json=chat_body(messages=messages))

    error = assert_openai_error(response, 400, "invalid_value")
    assert error["param"] == "messages[0].tool_calls"
    assert "tool calls are not supported" in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/responses"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/chat/completions/"),
        ("GET", "/v1/chat/completions"),
    ],
)
def test_a_route_not_served_is_openais_invalid_url_naming_those_served(
    client: TestClient, app: FastAPI, method: str, path: str
) -> None:
    response = client.request(method, path, json=chat_body(), follow_redirects=False)

    assert response.status_code in (404, 405)
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_url"
    assert error["param"] is None
    assert error["message"].startswith(f"Invalid URL ({method} {path})")
    # Read from the app: a route added later is listed without a change here.
    paths = client.get("/openapi.json").json()["paths"]
    served = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    ]
    assert "POST /v1/chat/completions" in served
    for route in served:
        assert route in error["message"]


def test_a_trailing_slash_is_not_redirected(client: TestClient) -> None:
    response = client.get("/health/", follow_redirects=False, headers={"host": "evil.example"})

    assert response.status_code == 404
    assert "location" not in response.headers


SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"enum": ["yes", "no"]}},
    "required": ["verdict"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "Verdict", "schema": SCHEMA, "strict": True},
}


@pytest.mark.parametrize(
    ("engine", "prompt_format", "response_format", "expected"),
    [
        (
            "vllm",
            "template",
            JSON_SCHEMA_FORMAT,
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": SCHEMA},
                }
            },
        ),
        (
            "vllm",
            "chat",
            {"type": "json_object"},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": {"type": "object"}},
                }
            },
        ),
        ("tgi", "template", JSON_SCHEMA_FORMAT, {"grammar": {"type": "json", "value": SCHEMA}}),
        (
            "tgi",
            "chat",
            JSON_SCHEMA_FORMAT,
            {"response_format": {"type": "json_object", "value": SCHEMA}},
        ),
    ],
)
def test_structured_output_goes_to_each_engine_in_its_own_constraint(
    use_engine: EngineApp,
    engine: str,
    prompt_format: str,
    response_format: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    client, fake = use_engine(engine, prompt_format, answer_text='{"verdict": "yes"}')

    response = client.post("/v1/chat/completions", json=chat_body(response_format=response_format))

    assert response.status_code == 200, response.text
    sent, _ = llm_call(fake)
    constraint = sent.get("parameters", sent)
    for key, value in expected.items():
        assert constraint[key] == value
    # The retrieved context still reaches the model.
    rendered = json.dumps(sent)
    assert "vector database" in rendered
    content = response.json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"verdict": "yes"}


def test_a_text_response_format_sends_no_constraint(use_engine: EngineApp) -> None:
    client, fake = use_engine("vllm")

    response = client.post("/v1/chat/completions", json=chat_body(response_format={"type": "text"}))

    assert response.status_code == 200
    assert "response_format" not in llm_call(fake)[0]


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
def test_streamed_text_has_no_edge_whitespace_the_answer_lacks(
    use_engine: EngineApp, engine: str
) -> None:
    client, _ = use_engine(engine, answer_text="\n\nHello there \n")

    streamed = client.post("/v1/chat/completions", json=chat_body(stream=True))
    buffered = client.post("/v1/chat/completions", json=chat_body())

    chunks = [event for event in events_of(streamed) if event != "[DONE]" and event["choices"]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == "Hello there"
    assert buffered.json()["choices"][0]["message"]["content"] == text


async def _call_and_hang_up(app: FastAPI, body: dict[str, Any], after_s: float) -> list[Any]:
    """Drive the app as a server would, with a client that leaves after `after_s`."""
    sent: list[Any] = []
    request = {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
    messages = [request]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(after_s)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


@pytest.mark.parametrize("stream", [True, False])
def test_a_hang_up_before_the_first_token_closes_the_model_stream_and_is_no_error(
    use_engine: EngineApp,
    monkeypatch: pytest.MonkeyPatch,
    app_logs: RecordCollector,
    capsys: pytest.CaptureFixture[str],
    stream: bool,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    client, _ = use_engine("vllm")
    app: FastAPI = client.app  # type: ignore[assignment]
    # The model is still reading the prompt: no part comes until the stream is closed.
    silent = SilentStream([])
    monkeypatch.setattr(app.state.pipeline.runtime, "_open_stream", lambda *_: silent)

    sent = asyncio.run(_call_and_hang_up(app, chat_body(stream=stream), after_s=0.3))

    assert silent.closed.is_set()
    # Nobody is there to read an answer: no body, and no error.
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    [trace] = app_logs.traces()
    assert trace["error_code"] == "client_closed"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf[-1]["Errors"] == [0.0]
    assert emf[-1]["ClientDisconnects"] == [1.0]


def test_a_stream_that_answers_is_not_cut_by_the_disconnect_watch(use_engine: EngineApp) -> None:
    client, _ = use_engine("vllm", answer_text="all of it")
    app: FastAPI = client.app  # type: ignore[assignment]

    sent = asyncio.run(_call_and_hang_up(app, chat_body(stream=True), after_s=5))

    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"data: [DONE]" in body
    assert vllm_stream  # the fake streams in vLLM's contract
