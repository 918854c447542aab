"""Fitting context into the LLM's input budget."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from rag_app.services.prompt import CHUNK_SEPARATOR, PromptBuilder, estimate_tokens
from rag_app.services.retriever import Chunk

TEMPLATE = "Context:\n{context}\nQ: {query}\nA:"


def chunk(content: str, score: float = 0.5) -> Chunk:
    return Chunk("embedded_posts", f"id-{content[:8]}", score, content, {})


def test_estimate_rounds_up() -> None:
    assert estimate_tokens("", 3.0) == 0
    assert estimate_tokens("abc", 3.0) == 1
    assert estimate_tokens("abcd", 3.0) == 2
    assert estimate_tokens("abcd", 2.5) == 2


def test_everything_fits() -> None:
    builder = PromptBuilder(TEMPLATE, max_input_tokens=1000, chars_per_token=3.0)
    chunks = [chunk("alpha"), chunk("beta")]

    prompt = builder.build("why?", chunks)

    assert prompt.text == TEMPLATE.format(context=f"alpha{CHUNK_SEPARATOR}beta", query="why?")
    assert prompt.chunks == chunks
    assert prompt.token_estimate == math.ceil(len(prompt.text) / 3.0)


def test_lower_ranked_chunks_are_dropped_and_the_last_kept_one_is_cut() -> None:
    frame = len(TEMPLATE.format(context="", query="q"))
    builder = PromptBuilder(TEMPLATE, max_input_tokens=frame + 12, chars_per_token=1)
    chunks = [chunk("first"), chunk("second-chunk"), chunk("third")]

    prompt = builder.build("q", chunks)

    # 12 characters of room: "first" (5) + separator (7) leave nothing for "second-chunk".
    assert prompt.chunks == chunks[:1]
    assert prompt.text == TEMPLATE.format(context="first", query="q")


def test_a_single_long_chunk_is_truncated() -> None:
    builder = PromptBuilder("{context}|{query}", max_input_tokens=10, chars_per_token=2.0)

    prompt = builder.build("qq", [chunk("x" * 100)])

    # Frame "|qq" costs 2 tokens: 8 tokens = 16 characters of context.
    assert prompt.text == "x" * 16 + "|qq"
    assert prompt.token_estimate == 10


def test_no_room_means_no_context() -> None:
    builder = PromptBuilder("{context}{query}", max_input_tokens=3, chars_per_token=1.0)

    prompt = builder.build("a long query", [chunk("context")])

    assert prompt.chunks == []
    assert prompt.text == "a long query"


def test_braces_in_the_query_are_not_placeholders() -> None:
    builder = PromptBuilder(TEMPLATE, max_input_tokens=100, chars_per_token=3.0)

    prompt = builder.build("what is {context} or {0}?", [chunk("facts")])

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
    builder = PromptBuilder(TEMPLATE, max_input_tokens, chars_per_token)
    chunks = [chunk(chr(ord("a") + i % 26) * length) for i, length in enumerate(lengths)]

    prompt = builder.build(query, chunks)

    frame = estimate_tokens(TEMPLATE.format(context="", query=query), chars_per_token)
    context = prompt.text[len("Context:\n") : len(prompt.text) - len(f"\nQ: {query}\nA:")]
    assert estimate_tokens(context, chars_per_token) <= max(0, max_input_tokens - frame)
    # Kept chunks are the best-ranked ones, in order; only the last may be cut short.
    assert prompt.chunks == chunks[: len(prompt.chunks)]
    if prompt.chunks:
        parts = context.split(CHUNK_SEPARATOR)
        assert parts[:-1] == [c.content for c in prompt.chunks[:-1]]
        assert prompt.chunks[-1].content.startswith(parts[-1])
