"""The chat API through the clients users bring (openai, LangChain, LiteLLM), in-process.

Each client gets the app through FastAPI's TestClient as its HTTP client, so every failure
below is the one the client would raise against a deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import openai
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from ....support import MODEL_ID, FakeSageMaker
from .test_chat import use_engine

__all__ = ["use_engine"]
BASE_URL = "http://testserver/v1"
TOO_LONG = "word " * 3000
VERDICT_JSON = '{"verdict": "yes", "sure": true}'


class Verdict(BaseModel):
    verdict: Literal["yes", "no"]
    sure: bool


@pytest.fixture
def http(use_engine: Callable[..., tuple[TestClient, FakeSageMaker]]) -> TestClient:
    client, _ = use_engine("vllm", "chat", answer_text=VERDICT_JSON)
    return client


@pytest.fixture
def sdk(http: TestClient) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=BASE_URL, api_key="local", http_client=http, max_retries=0
    ) as client:
        yield client


def ask(content: str = "Is the sky blue?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def test_openai_a_context_overflow_is_a_bad_request_with_openais_code(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model=MODEL_ID, messages=ask(TOO_LONG))  # type: ignore[arg-type]

    assert raised.value.code == "context_length_exceeded"
    assert "maximum context length is" in raised.value.message


def test_openai_an_invalid_field_is_a_bad_request_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model=MODEL_ID, messages=ask(), n=2)  # type: ignore[arg-type]

    assert raised.value.param == "n"


def test_openai_an_unknown_model_is_not_found_as_an_invalid_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="gpt-4o", messages=ask())  # type: ignore[arg-type]

    assert raised.value.code == "model_not_found"
    assert raised.value.type == "invalid_request_error"


def test_openai_a_route_not_served_names_the_url(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.responses.create(model=MODEL_ID, input="hi")

    assert "Invalid URL (POST /v1/responses)" in raised.value.message
    assert "POST /v1/chat/completions" in raised.value.message


def test_openai_history_written_back_with_model_dump_is_accepted(sdk: openai.OpenAI) -> None:
    messages: list[Any] = ask()
    first = sdk.chat.completions.create(model=MODEL_ID, messages=messages)
    messages += [first.choices[0].message.model_dump(), *ask("And at night?")]

    second = sdk.chat.completions.create(model=MODEL_ID, messages=messages)

    assert second.choices[0].message.content == VERDICT_JSON


def test_openai_parse_returns_the_pydantic_object(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.parse(
        model=MODEL_ID,
        messages=ask(),  # type: ignore[arg-type]
        response_format=Verdict,
    )

    assert completion.choices[0].message.parsed == Verdict(verdict="yes", sure=True)


def chat_model(http: TestClient) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL_ID, base_url=BASE_URL, api_key="local", http_client=http, max_retries=0
    )


def test_langchain_a_context_overflow_is_its_context_overflow_error(http: TestClient) -> None:
    from langchain_core.exceptions import ContextOverflowError

    with pytest.raises(ContextOverflowError):
        chat_model(http).invoke(TOO_LONG)


def test_langchain_an_invalid_request_is_a_bad_request(http: TestClient) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        chat_model(http).bind(logprobs=True).invoke("hi")

    assert raised.value.param == "logprobs"


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_langchain_structured_output(http: TestClient, method: str) -> None:
    structured = chat_model(http).with_structured_output(Verdict, method=method)

    assert structured.invoke("Is the sky blue? Answer in JSON.") == Verdict(
        verdict="yes", sure=True
    )


def test_langchain_structured_output_by_tool_call_is_refused_naming_tools(
    http: TestClient,
) -> None:
    structured = chat_model(http).with_structured_output(Verdict, method="function_calling")

    with pytest.raises(openai.BadRequestError) as raised:
        structured.invoke("Is the sky blue?")

    assert raised.value.param == "tools"
    assert "tool calling is not supported" in raised.value.message


def litellm_call(http: TestClient, monkeypatch: pytest.MonkeyPatch, **call: Any) -> Any:
    # LiteLLM fetches a model price list at import unless told to use its bundled copy.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    client = openai.OpenAI(base_url=BASE_URL, api_key="local", http_client=http, max_retries=0)
    return litellm.completion(
        model=f"openai/{MODEL_ID}", api_base=BASE_URL, api_key="local", client=client, **call
    )


def test_litellm_a_context_overflow_is_its_context_window_exceeded_error(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm

    with pytest.raises(litellm.ContextWindowExceededError):
        litellm_call(http, monkeypatch, messages=ask(TOO_LONG))


def test_litellm_an_invalid_request_is_its_bad_request(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm

    with pytest.raises(litellm.BadRequestError) as raised:
        litellm_call(http, monkeypatch, messages=ask(), logit_bias={"1": 5})

    assert "logit_bias" in str(raised.value)


def test_litellm_answers(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    response = litellm_call(http, monkeypatch, messages=ask())

    assert response.choices[0].message.content == VERDICT_JSON
