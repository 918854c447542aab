"""Fitting the question, context and earlier turns into the LLM's input budget."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rag_app.errors import InvalidRequest
from rag_app.services.prompt import (
    CHUNK_SEPARATOR,
    MESSAGE_OVERHEAD_TOKENS,
    Conversation,
    Message,
    PromptBuilder,
    estimate_tokens,
)
from rag_app.services.retriever import Chunk

TEMPLATE = "Context:\n{context}\nQ: {query}\nA:"
SYSTEM = "Answer from this context:\n{context}"


def templated(template: str, max_input_tokens: int, chars_per_token: float) -> PromptBuilder:
    return PromptBuilder(
        prompt_format="template",
        template=template,
        max_input_tokens=max_input_tokens,
        chars_per_token=chars_per_token,
    )


def chat(max_input_tokens: int, chars_per_token: float = 1.0) -> PromptBuilder:
    return PromptBuilder(
        prompt_format="chat",
        template=SYSTEM,
        max_input_tokens=max_input_tokens,
        chars_per_token=chars_per_token,
    )


def ask(query: str) -> Conversation:
    return Conversation(query)


def chunk(content: str, score: float = 0.5) -> Chunk:
    return Chunk("embedded_posts", f"id-{content[:8]}", score, content, {})


def test_estimate_rounds_up() -> None:
    assert estimate_tokens("", 3.0) == 0
    assert estimate_tokens("abc", 3.0) == 1
    assert estimate_tokens("abcd", 3.0) == 2
    assert estimate_tokens("abcd", 2.5) == 2


def test_everything_fits() -> None:
    builder = templated(TEMPLATE, max_input_tokens=1000, chars_per_token=3.0)
    chunks = [chunk("alpha"), chunk("beta")]

    prompt = builder.build(ask("why?"), chunks)

    assert prompt.text == TEMPLATE.format(context=f"alpha{CHUNK_SEPARATOR}beta", query="why?")
    assert prompt.chunks == chunks
    assert prompt.token_estimate == math.ceil(len(prompt.text) / 3.0)


def test_lower_ranked_chunks_are_dropped_and_the_last_kept_one_is_cut() -> None:
    frame = len(TEMPLATE.format(context="", query="q"))
    builder = templated(TEMPLATE, max_input_tokens=frame + 12, chars_per_token=1)
    chunks = [chunk("first"), chunk("second-chunk"), chunk("third")]

    prompt = builder.build(ask("q"), chunks)

    # 12 characters of room: "first" (5) + separator (7) leave nothing for "second-chunk".
    assert prompt.chunks == chunks[:1]
    assert prompt.text == TEMPLATE.format(context="first", query="q")


def test_a_single_long_chunk_is_truncated() -> None:
    builder = templated("{context}|{query}", max_input_tokens=10, chars_per_token=2.0)

    prompt = builder.build(ask("qq"), [chunk("x" * 100)])

    # Frame "|qq" costs 2 tokens: 8 tokens = 16 characters of context.
    assert prompt.text == "x" * 16 + "|qq"
    assert prompt.token_estimate == 10


def test_no_room_means_no_context() -> None:
    builder = templated("{context}{query}", max_input_tokens=12, chars_per_token=1.0)

    prompt = builder.build(ask("a long query"), [chunk("context")])

    assert prompt.chunks == []
    assert prompt.text == "a long query"


def test_a_question_over_the_budget_is_refused() -> None:
    builder = templated("{context}{query}", max_input_tokens=3, chars_per_token=1.0)

    with pytest.raises(InvalidRequest, match="maximum context length is 3 tokens"):
        builder.build(ask("a long query"), [chunk("context")])


def test_braces_in_the_query_are_not_placeholders() -> None:
    builder = templated(TEMPLATE, max_input_tokens=100, chars_per_token=3.0)

    prompt = builder.build(ask("what is {context} or {0}?"), [chunk("facts")])

    assert prompt.text == TEMPLATE.format(context="facts", query="what is {context} or {0}?")


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=400), max_size=8),
    max_input_tokens=st.integers(min_value=1, max_value=300),
    chars_per_token=st.floats(min_value=0.6, max_value=8.0),
    query=st.text(max_size=60),
)
def test_prompt_never_exceeds_the_budget(
    lengths: list[int], max_input_tokens: int, chars_per_token: float, query: str
) -> None:
    builder = templated(TEMPLATE, max_input_tokens, chars_per_token)
    chunks = [chunk(chr(ord("a") + i % 26) * length) for i, length in enumerate(lengths)]

    frame = estimate_tokens(TEMPLATE.format(context="", query=query), chars_per_token)
    assume(frame <= max_input_tokens)

    prompt = builder.build(ask(query), chunks)

    assert prompt.text is not None
    context = prompt.text[len("Context:\n") : len(prompt.text) - len(f"\nQ: {query}\nA:")]
    assert estimate_tokens(context, chars_per_token) <= max(0, max_input_tokens - frame)
    # Kept chunks are the best-ranked ones, in order; only the last may be cut short.
    assert prompt.chunks == chunks[: len(prompt.chunks)]
    if prompt.chunks:
        parts = context.split(CHUNK_SEPARATOR)
        assert parts[:-1] == [c.content for c in prompt.chunks[:-1]]
        assert prompt.chunks[-1].content.startswith(parts[-1])


def test_template_history_and_instructions_fill_the_query_slot() -> None:
    builder = templated(TEMPLATE, max_input_tokens=1000, chars_per_token=3.0)
    conversation = Conversation(
        "And the second?",
        history=(Message("user", "Name the first."), Message("assistant", "Alpha.")),
        instructions=("Be brief.",),
    )

    prompt = builder.build(conversation, [chunk("facts")])

    query = "Be brief.\n\nUser: Name the first.\nAssistant: Alpha.\n\nAnd the second?"
    assert prompt.text == TEMPLATE.format(context="facts", query=query)
    assert prompt.history == conversation.history


def test_chat_format_sends_messages_with_the_context_in_the_system_message() -> None:
    conversation = Conversation(
        "q2?",
        history=(Message("user", "q1?"), Message("assistant", "a1")),
        instructions=("Be brief.",),
    )

    prompt = chat(1000).build(conversation, [chunk("alpha"), chunk("beta")])

    assert prompt.text is None
    assert prompt.messages == [
        Message("system", SYSTEM.format(context=f"alpha{CHUNK_SEPARATOR}beta") + "\n\nBe brief."),
        Message("user", "q1?"),
        Message("assistant", "a1"),
        Message("user", "q2?"),
    ]
    assert json.loads(prompt.render())[-1] == {"role": "user", "content": "q2?"}


def test_oldest_turns_go_first_when_the_history_does_not_fit() -> None:
    history = tuple(
        Message("user" if i % 2 == 0 else "assistant", f"turn-{i}" + "x" * 40) for i in range(6)
    )
    conversation = Conversation("now?", history=history)
    # One character per token: the system prompt and question, then room for exactly two turns.
    frame = len(SYSTEM.format(context="")) + len("now?") + 2 * MESSAGE_OVERHEAD_TOKENS
    turn = len(history[0].content) + MESSAGE_OVERHEAD_TOKENS
    builder = chat(frame + 2 * turn + turn // 2)

    prompt = builder.build(conversation, [])

    assert prompt.history == history[-2:]
    assert prompt.messages is not None
    assert [m.content for m in prompt.messages[1:-1]] == [m.content for m in history[-2:]]
    assert prompt.token_estimate <= builder.max_input_tokens


def test_context_comes_before_history_in_the_budget() -> None:
    conversation = Conversation("q?", history=(Message("user", "x" * 50),))
    frame = len(SYSTEM.format(context="")) + len("q?") + 2 * MESSAGE_OVERHEAD_TOKENS

    prompt = chat(frame + 30).build(conversation, [chunk("c" * 30)])

    assert prompt.chunks != []
    assert prompt.history == ()
