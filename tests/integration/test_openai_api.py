"""The OpenAI-compatible API driven by the official `openai` SDK, as users' clients do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.integration.conftest import STACK_GROUP, Stack, openai_client
from tests.integration.test_rag_e2e import MOTH_ARTICLE, MOTH_QUESTION, model_input

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

SHORT = 16


@pytest.fixture
def sdk(engine_stack: Stack) -> Iterator[openai.OpenAI]:
    with openai_client(engine_stack.ports.api_url) as client:
        yield client


def last_llm_call(stack: Stack, before: int) -> dict[str, Any]:
    [call] = [c for c in stack.invocations()[before:] if c["component"] == stack.llm]
    return call


def ask(question: str = MOTH_QUESTION) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_models_lists_the_configs_model(sdk: openai.OpenAI, engine_stack: Stack) -> None:
    assert [model.id for model in sdk.models.list()] == [engine_stack.config.llm.model_id]


def test_buffered_answer_with_usage_and_sources(sdk: openai.OpenAI, engine_stack: Stack) -> None:
    before = len(engine_stack.invocations())

    completion = sdk.chat.completions.create(
        model=engine_stack.config.llm.model_id, messages=ask(), max_tokens=SHORT
    )

    call = last_llm_call(engine_stack, before)
    (choice,) = completion.choices
    assert completion.object == "chat.completion"
    # The model's words, whatever they are, are the answer.
    assert choice.message.content == call["stats"]["generated_text"].strip()
    assert choice.finish_reason in {"stop", "length"}
    assert completion.usage is not None
    assert completion.usage.completion_tokens == call["stats"]["generated_tokens"] <= SHORT + 1
    assert completion.usage.prompt_tokens == call["stats"]["input_tokens"]
    sources = (completion.model_extra or {})["sources"]
    assert sources[0]["link"] == MOTH_ARTICLE


def test_streamed_answer_arrives_in_chunks_with_usage_and_sources(
    sdk: openai.OpenAI, engine_stack: Stack
) -> None:
    before = len(engine_stack.invocations())

    stream = sdk.chat.completions.create(
        model=engine_stack.config.llm.model_id,
        messages=ask(),
        max_tokens=SHORT,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    call = last_llm_call(engine_stack, before)
    assert call["operation"] == "InvokeEndpointWithResponseStream"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.strip() == call["stats"]["generated_text"].strip()
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1
    assert (finish[0].model_extra or {})["sources"][0]["link"] == MOTH_ARTICLE
    usage = chunks[-1].usage
    assert usage is not None
    assert chunks[-1].choices == []
    assert usage.completion_tokens == call["stats"]["generated_tokens"]


def test_earlier_turns_reach_the_model_and_the_oldest_go_first(
    sdk: openai.OpenAI, engine_stack: Stack
) -> None:
    config = engine_stack.config
    # Each old turn is about a third of the input budget: the oldest cannot all fit.
    turn_chars = int(config.llm.max_input_tokens * config.retrieval.chars_per_token / 3)
    history: list[dict[str, str]] = []
    for index in range(6):
        role = "user" if index % 2 == 0 else "assistant"
        history.append({"role": role, "content": f"TURN-{index} " + "x" * turn_chars})
    before = len(engine_stack.invocations())

    sdk.chat.completions.create(
        model=config.llm.model_id,
        messages=[
            {"role": "system", "content": "SYSTEM-NOTE: answer tersely."},
            *history,
            {"role": "user", "content": MOTH_QUESTION},
        ],
        max_tokens=2,
    )

    sent = model_input(last_llm_call(engine_stack, before)["stats"]["request"])
    assert "SYSTEM-NOTE" in sent
    assert MOTH_QUESTION in sent
    kept = [index for index in range(6) if f"TURN-{index} " in sent]
    assert kept, "no history fitted"
    assert kept == list(range(kept[0], 6)), "history must be the most recent turns"
    assert kept[0] > 0, "the oldest turn should have been dropped"


def test_a_short_follow_up_keeps_every_turn(sdk: openai.OpenAI, stack: Stack) -> None:
    with openai_client(stack.ports.api_url) as client:
        before = len(stack.invocations())
        client.chat.completions.create(
            model=stack.config.llm.model_id,
            messages=[
                {"role": "user", "content": "Who counted the moths?"},
                {"role": "assistant", "content": "Ilse Marrow did."},
                {"role": "user", "content": MOTH_QUESTION},
            ],
            max_tokens=2,
        )
    sent = model_input(last_llm_call(stack, before)["stats"]["request"])
    assert "Who counted the moths?" in sent
    assert "Ilse Marrow did." in sent


@pytest.mark.parametrize(
    ("arguments", "error_type", "param"),
    [
        ({"n": 2}, openai.BadRequestError, "n"),
        ({"messages": []}, openai.BadRequestError, "messages"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            openai.BadRequestError,
            "messages",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            openai.BadRequestError,
            "tools",
        ),
        ({"logprobs": True}, openai.BadRequestError, "logprobs"),
        ({"max_tokens": 100_000}, openai.BadRequestError, "max_tokens"),
        ({"temperature": 3}, openai.BadRequestError, "temperature"),
        ({"model": "gpt-4o"}, openai.NotFoundError, "model"),
        ({"messages": [{"role": "user", "content": "x" * 600_000}]}, openai.APIStatusError, None),
    ],
)
def test_bad_input_raises_the_sdks_matching_error(
    sdk: openai.OpenAI,
    engine_stack: Stack,
    arguments: dict[str, Any],
    error_type: type[openai.APIStatusError],
    param: str | None,
) -> None:
    call: dict[str, Any] = {"model": engine_stack.config.llm.model_id, "messages": ask()}
    call.update(arguments)
    before = len(engine_stack.invocations())

    with pytest.raises(error_type) as raised:
        sdk.chat.completions.create(**call)

    error = raised.value
    assert isinstance(error.body, dict)
    assert error.body["param"] == param
    assert error.body["message"]
    assert error.status_code in {400, 404, 413}
    assert json.dumps(error.body).count("Traceback") == 0
    # Refused before any model was called.
    assert len(engine_stack.invocations()) == before
