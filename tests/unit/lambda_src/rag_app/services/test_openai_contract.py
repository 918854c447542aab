"""OpenAI completions and chat as vLLM (and TGI's chat route) serve them on /invocations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.generation import Generation, GenerationParams
from rag_app.services.openai_contract import StreamParser, parse_answer, request_body
from rag_app.services.prompt import Message, Prompt

PARAMS = GenerationParams(
    max_new_tokens=120,
    temperature=0.2,
    top_p=1.0,
    repetition_penalty=1.1,
    stop=["<|im_end|>"],
    truncate=3072,
    seed=11,
)
TEXT = Prompt(chunks=[], token_estimate=3, text="Context: x\nQ: y\nA:")
CHAT = Prompt(
    chunks=[],
    token_estimate=9,
    messages=[Message("system", "Use the context."), Message("user", "y?")],
)


def test_a_text_prompt_is_a_completion_with_vllms_extensions() -> None:
    assert request_body(TEXT, PARAMS, engine="vllm", stream=False) == {
        "prompt": "Context: x\nQ: y\nA:",
        "max_tokens": 120,
        "temperature": 0.2,
        "top_p": 1.0,
        "stop": ["<|im_end|>"],
        "seed": 11,
        "repetition_penalty": 1.1,
        "truncate_prompt_tokens": 3072,
    }


def test_messages_are_a_chat_completion_and_streams_ask_for_usage() -> None:
    body = request_body(CHAT, PARAMS, engine="vllm", stream=True)

    assert body["messages"] == [
        {"role": "system", "content": "Use the context."},
        {"role": "user", "content": "y?"},
    ]
    assert "prompt" not in body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_tgi_gets_neither_vllm_extension_nor_a_top_p_of_one() -> None:
    body = request_body(CHAT, PARAMS, engine="tgi", stream=False)

    assert "repetition_penalty" not in body
    assert "truncate_prompt_tokens" not in body
    assert "top_p" not in body


def test_a_greedy_call_on_tgis_chat_route_sends_no_top_p() -> None:
    # TGI's chat route turns temperature 0 into greedy decoding, but a top_p still samples.
    greedy = GenerationParams(40, 0.0, 0.9, 1.1, [], 64)

    tgi = request_body(CHAT, greedy, engine="tgi", stream=False)
    vllm = request_body(CHAT, greedy, engine="vllm", stream=False)

    assert tgi["temperature"] == 0
    assert "top_p" not in tgi
    # vLLM decodes greedily at temperature 0 whatever top_p says.
    assert vllm["top_p"] == 0.9


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "object": "text_completion",
                "choices": [{"index": 0, "text": " An answer. ", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45},
            },
            Generation("An answer.", 5, "stop", prompt_tokens=40),
        ),
        (
            {
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Chat answer"},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 120},
            },
            Generation("Chat answer", 120, "length", prompt_tokens=9),
        ),
        (
            # TGI's chat route reports a stop string as stop_sequence.
            {"choices": [{"message": {"content": "TGI"}, "finish_reason": "stop_sequence"}]},
            Generation("TGI", None, "stop"),
        ),
    ],
)
def test_reads_the_first_choice(answer: Any, expected: Generation) -> None:
    assert parse_answer(answer) == expected


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"choices": []},
        {"choices": [{"message": {"content": None}}]},
        {"error": {"message": "bad", "type": "BadRequestError", "code": 400}},
        "text",
    ],
)
def test_anything_else_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamFailed, match="unexpected response"):
        parse_answer(answer)


def sse(body: dict[str, Any] | str, space: bool = True) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body)
    return (b"data: " if space else b"data:") + data.encode() + b"\n\n"


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


VLLM_CHAT_STREAM = (
    sse(chat_chunk({"role": "assistant", "content": ""}))
    + sse(chat_chunk({"content": "Wind"}))
    + sse(chat_chunk({"content": "mill ✓"}))
    + sse(chat_chunk({"content": ""}, "stop"))
    + sse({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 3}})
    + sse("[DONE]")
)


@pytest.mark.parametrize("size", [1, 2, 5, 64, 10_000])
def test_chat_stream_in_parts_of_any_size(size: int) -> None:
    parser = StreamParser()

    deltas = []
    for start in range(0, len(VLLM_CHAT_STREAM), size):
        deltas += parser.feed(VLLM_CHAT_STREAM[start : start + size])
    tail, generation = parser.finish()

    assert deltas + tail == ["Wind", "mill ✓"]
    assert generation == Generation("Windmill ✓", 3, "stop", prompt_tokens=30)


def test_completion_stream_and_tgis_spacing() -> None:
    parser = StreamParser()
    chunks = [
        {"object": "text_completion", "choices": [{"text": "Hi", "finish_reason": ""}]},
        {"object": "text_completion", "choices": [{"text": "!", "finish_reason": "length"}]},
    ]
    data = b"".join(sse(chunk, space=False) for chunk in chunks) + sse("[DONE]", space=False)

    deltas = parser.feed(data)
    tail, generation = parser.finish()

    assert deltas + tail == ["Hi", "!"]
    assert generation.finish_reason == "length"
    assert generation.generated_tokens is None


def test_an_error_chunk_mid_stream_is_an_upstream_failure() -> None:
    parser = StreamParser()
    parser.feed(sse(chat_chunk({"content": "par"})))

    with pytest.raises(UpstreamFailed, match="failed while generating"):
        parser.feed(sse({"error": {"message": "CUDA error", "code": 500}}))


def test_a_stream_without_its_end_is_an_upstream_failure() -> None:
    parser = StreamParser()
    parser.feed(sse(chat_chunk({"content": "half"})))

    with pytest.raises(UpstreamFailed, match="ended before its last chunk"):
        parser.finish()


@pytest.mark.parametrize("event", [b"data: not json\n\n", b'data: {"choices": "x"}\n\n'])
def test_garbage_in_a_stream_is_an_upstream_failure(event: bytes) -> None:
    with pytest.raises(UpstreamFailed, match="unexpected response"):
        StreamParser().feed(event)


def test_a_stop_string_tgi_keeps_is_removed_from_answers_and_streams() -> None:
    answer = {"choices": [{"message": {"content": "Done.##"}, "finish_reason": "stop_sequence"}]}
    assert parse_answer(answer, ["##"]).text == "Done."

    parser = StreamParser(kept_stop=["##"])
    deltas = parser.feed(
        sse(chat_chunk({"content": "Done.#"}), space=False)
        + sse(chat_chunk({"content": "#"}, "stop_sequence"), space=False)
        + sse("[DONE]", space=False)
    )
    tail, generation = parser.finish()

    assert deltas + tail == ["Done."]
    assert generation.text == "Done."
    assert generation.finish_reason == "stop"
