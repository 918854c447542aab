"""The demo's self-query line, for every outcome the retrieval report can record."""

from __future__ import annotations

from typing import Any

import pytest

from local.demo import self_query_line

ILSE = {"name": "Ilse Marrow", "author_id": "68a78c34", "filtered": True}


def report(author: dict[str, Any] | None, fallbacks: list[str]) -> dict[str, Any]:
    return {
        "retrieval": {"phrasings": ["q"], "author": author, "fallbacks": fallbacks},
        "latency_ms": {"self_query": 412.3, "embed": 12.0},
    }


@pytest.mark.parametrize(
    ("author", "fallbacks", "line"),
    [
        (
            ILSE,
            [],
            'Self-query, 412 ms: the LLM read the author "Ilse Marrow" from the question; '
            "the search was filtered on it.",
        ),
        (
            {"name": "Heidi Mikulak", "author_id": None, "filtered": False},
            ["self_query_unknown_author"],
            "Self-query, 412 ms: fell back (self_query_unknown_author): the LLM read "
            '"Heidi Mikulak", but no author in the store has that name. The search was left open.',
        ),
        (
            None,
            ["expand_timeout", "self_query_timeout"],
            "Self-query, 412 ms: fell back (self_query_timeout): the LLM did not answer in time. "
            "The search was left open.",
        ),
        # The LLM answered NONE: nothing fell back, and nothing was filtered either.
        (
            None,
            ["expand_empty"],
            "Self-query, 412 ms: the LLM named no author; the search was left open.",
        ),
    ],
    ids=["filtered", "unknown-author", "timeout", "nobody"],
)
def test_the_line_says_what_the_report_recorded(
    author: dict[str, Any] | None, fallbacks: list[str], line: str
) -> None:
    assert self_query_line(report(author, fallbacks)) == line


def test_a_report_without_the_step_says_self_query_did_not_run() -> None:
    without = report(None, [])
    without["latency_ms"] = {"embed": 12.0}

    assert self_query_line(without) == (
        "Self-query did not run: the report has no self_query step."
    )
