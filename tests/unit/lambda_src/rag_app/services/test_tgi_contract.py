"""TGI request parameters and reading its answers."""

from __future__ import annotations

from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.generator import Generation, GenerationParams, parse_generation


def test_tgi_parameters() -> None:
    params = GenerationParams(
        max_new_tokens=150,
        temperature=0.01,
        top_p=0.9,
        repetition_penalty=1.1,
        stop=["</s>"],
        truncate=2048,
    )

    assert params.to_tgi() == {
        "max_new_tokens": 150,
        "temperature": 0.01,
        "top_p": 0.9,
        "repetition_penalty": 1.1,
        "do_sample": True,
        "return_full_text": False,
        "stop": ["</s>"],
        "details": True,
        "truncate": 2048,
    }


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
            Generation("Hi.", 3, "eos_token"),
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
    assert parse_generation(answer) == expected


@pytest.mark.parametrize(
    "answer", [None, [], [None], [{"text": "x"}], [{"generated_text": None}], "text"]
)
def test_anything_else_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamFailed, match="language model returned an unexpected"):
        parse_generation(answer)
