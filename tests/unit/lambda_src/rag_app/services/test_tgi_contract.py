"""TGI's generate contract: the request body, buffered answers and token streams."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.generation import Generation, GenerationParams
from rag_app.services.tgi_contract import StreamParser, parse_answer, request_body

PARAMS = GenerationParams(
    max_new_tokens=150,
    temperature=0.01,
    top_p=0.9,
    repetition_penalty=1.1,
    stop=["</s>"],
    truncate=2048,
)


def test_request_body() -> None:
    assert request_body("Q?", PARAMS, stream=False) == {
        "inputs": "Q?",
        "parameters": {
            "max_new_tokens": 150,
            "temperature": 0.01,
            "top_p": 0.9,
            "repetition_penalty": 1.1,
            "do_sample": True,
            "return_full_text": False,
            "stop": ["</s>"],
            "details": True,
            "truncate": 2048,
        },
    }
    assert request_body("Q?", PARAMS, stream=True)["stream"] is True


def test_greedy_and_unbounded_top_p_are_left_out_as_tgi_refuses_them() -> None:
    greedy = GenerationParams(16, 0.0, 1.0, 1.0, [], 64, seed=7)

    parameters = request_body("Q?", greedy, stream=False)["parameters"]

    assert parameters["do_sample"] is False
    assert "temperature" not in parameters
    assert "top_p" not in parameters
    assert parameters["seed"] == 7


def test_a_greedy_call_sends_no_top_p_as_tgi_would_sample_with_it() -> None:
    # The helper calls: temperature 0 with the config's top_p. TGI samples whenever a warper
    # such as top_p is set, so the same question would get different replies.
    greedy = GenerationParams(40, 0.0, 0.9, 1.1, [], 64)

    parameters = request_body("Q?", greedy, stream=False)["parameters"]

    assert parameters["do_sample"] is False
    assert "top_p" not in parameters
    assert "temperature" not in parameters


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            [
                {
                    "generated_text": " Hi. ",
                    "details": {"generated_tokens": 3, "finish_reason": "eos_token"},
                }
            ],
            Generation("Hi.", 3, "stop"),
        ),
        (
            [{"generated_text": "Cut</s>", "details": {"finish_reason": "stop_sequence"}}],
            Generation("Cut", None, "stop"),
        ),
        (
            [{"generated_text": "Long", "details": {"finish_reason": "length"}}],
            Generation("Long", None, "length"),
        ),
        ([{"generated_text": "No details"}], Generation("No details", None, None)),
        ({"generated_text": "A bare object"}, Generation("A bare object", None, None)),
        (
            [{"generated_text": "Odd details", "details": {"generated_tokens": "3"}}],
            Generation("Odd details", None, None),
        ),
    ],
)
def test_reads_the_first_generation(answer: Any, expected: Generation) -> None:
    assert parse_answer(answer, ["</s>"]) == expected


@pytest.mark.parametrize(
    "answer", [None, [], [None], [{"text": "x"}], [{"generated_text": None}], "text"]
)
def test_anything_else_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamFailed, match="language model returned an unexpected"):
        parse_answer(answer, [])


def token_event(text: str, *, special: bool = False, last: dict[str, Any] | None = None) -> bytes:
    event = {
        "index": 1,
        "token": {"id": 1, "text": text, "logprob": -0.1, "special": special},
        "generated_text": "(full)" if last else None,
        "details": last,
    }
    # TGI writes `data:` without a space.
    return b"data:" + json.dumps(event).encode() + b"\n\n"


def feed_in_pieces(parser: StreamParser, data: bytes, size: int) -> list[str]:
    deltas = []
    for start in range(0, len(data), size):
        deltas += parser.feed(data[start : start + size])
    return deltas


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_stream_parts_that_cut_lines_anywhere(size: int) -> None:
    details = {"finish_reason": "eos_token", "generated_tokens": 4, "input_length": 12}
    data = (
        token_event("Hé")
        + token_event("llo")
        + token_event(" wörld")
        + token_event("<|im_end|>", special=True, last=details)
    )
    parser = StreamParser(stop=[])

    deltas = feed_in_pieces(parser, data, size)
    tail, generation = parser.finish()

    assert "".join(deltas + tail) == "Héllo wörld"
    assert generation == Generation("Héllo wörld", 4, "stop", prompt_tokens=12)


def test_stream_holds_back_and_drops_a_stop_sequence() -> None:
    details = {"finish_reason": "stop_sequence", "generated_tokens": 4}
    parser = StreamParser(stop=["\nUser:"])

    deltas = [
        *parser.feed(token_event("Yes")),
        *parser.feed(token_event("\nUs")),
        *parser.feed(token_event("er")),
        *parser.feed(token_event(":", last=details)),
    ]
    tail, generation = parser.finish()

    # "\nUs" might have been the start of the stop sequence, so it was never sent.
    assert deltas + tail == ["Yes"]
    assert generation.text == "Yes"
    assert generation.finish_reason == "stop"


def test_a_held_back_prefix_that_was_no_stop_is_sent_later() -> None:
    parser = StreamParser(stop=["###"])

    first = parser.feed(token_event("a #"))
    second = parser.feed(token_event(" b", last={"finish_reason": "length"}))
    tail, generation = parser.finish()

    assert first == ["a "]
    assert second + tail == ["# b"]
    assert generation.text == "a # b"


def test_an_error_event_is_an_upstream_failure() -> None:
    parser = StreamParser(stop=[])
    error = b'data:{"error":"Input validation error: too long","error_type":"validation"}\n\n'

    with pytest.raises(UpstreamFailed, match="failed while generating"):
        parser.feed(error)


def test_a_stream_cut_before_its_last_event_is_an_upstream_failure() -> None:
    parser = StreamParser(stop=[])
    parser.feed(token_event("half"))

    with pytest.raises(UpstreamFailed, match="ended before its last token"):
        parser.finish()
