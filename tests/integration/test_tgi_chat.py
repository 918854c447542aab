"""A TGI config with prompt_format chat: the app sends messages to TGI's chat route, and the
local TGI applies the model's chat template, as TGI's SageMaker route does."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from local.processes import LocalStack
from local.settings import Ports
from tests.integration.conftest import STACK_GROUP, Stack, StackPool, free_port
from tests.integration.test_rag_e2e import MOTH_ARTICLE, MOTH_QUESTION

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

SYSTEM_PROMPT = "Answer from this context only.\n\n{context}"


@pytest.fixture(scope="module")
def tgi(stacks: StackPool) -> Stack:
    return stacks.get("smollm2-1.7b")


@pytest.fixture(scope="module")
def chat_api(
    tgi: Stack, tmp_path_factory: pytest.TempPathFactory, store_copy: Path
) -> Iterator[str]:
    """A second RAG API on the TGI stack's endpoint, with the config's prompt as chat."""
    folder = tmp_path_factory.mktemp("tgi-chat")
    store = folder / "store"
    shutil.copytree(store_copy, store)
    overrides = {
        "RAG_PROMPT_FORMAT": "chat",
        "RAG_PROMPT_TEMPLATE": "",  # blank is unset
        "RAG_SYSTEM_PROMPT": SYSTEM_PROMPT,
    }
    ports = Ports(endpoint=tgi.ports.endpoint, api=free_port())
    api = LocalStack(tgi.config, store, ports, log_path=folder / "api.log", api_overrides=overrides)
    api.start_api()
    try:
        yield ports.api_url
    finally:
        api.stop()


def test_buffered_and_streamed_answers_through_tgis_chat_route(tgi: Stack, chat_api: str) -> None:
    with openai.OpenAI(base_url=f"{chat_api}/v1", api_key="local", max_retries=0) as client:
        before = len(tgi.invocations())
        completion = client.chat.completions.create(
            model=tgi.config.llm.model_id,
            messages=[{"role": "user", "content": MOTH_QUESTION}],
            max_tokens=12,
        )
        stream = client.chat.completions.create(
            model=tgi.config.llm.model_id,
            messages=[{"role": "user", "content": MOTH_QUESTION}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)

    calls = [c for c in tgi.invocations()[before:] if c["component"] == tgi.llm]
    assert [c["operation"] for c in calls] == ["InvokeEndpointWithResponseStream"] * 2
    for call in calls:
        request = call["stats"]["request"]
        assert "inputs" not in request
        system, user = request["messages"]
        assert system["content"].startswith("Answer from this context only.")
        assert "4,182 lantern moths" in system["content"]
        assert user == {"role": "user", "content": MOTH_QUESTION}
    # Whatever the model said is what the caller got, the stop string TGI kept left out.
    assert completion.choices[0].message.content == answer_of(tgi, calls[0])
    assert completion.usage is not None
    assert completion.usage.completion_tokens == calls[0]["stats"]["generated_tokens"]
    assert (completion.model_extra or {})["sources"][0]["link"] == MOTH_ARTICLE
    assert chunks[-1].usage is not None
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip() == answer_of(tgi, calls[1])


def answer_of(stack: Stack, call: dict[str, Any]) -> str:
    """The generated text as the app passes it on: without a stop string at its end."""
    text = str(call["stats"]["generated_text"])
    for stop in stack.config.generation.stop:
        text = text.removesuffix(stop)
    return text.strip()


def test_the_local_tgi_chat_route_answers_boto3(tgi: Stack) -> None:
    client = tgi.runtime_client()
    body = {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 4}

    response = client.invoke_endpoint(
        EndpointName=tgi.endpoint, InferenceComponentName=tgi.llm, Body=json.dumps(body)
    )

    answer = json.loads(response["Body"].read())
    assert answer["object"] == "chat.completion"
    (choice,) = answer["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in {"stop", "length", "stop_sequence"}
    assert 1 <= answer["usage"]["completion_tokens"] <= 4
