"""Input validation: every bad line named, nothing run when any line is bad."""

from __future__ import annotations

import json

import pytest

from rag_app.batch.validation import parse_lines, validate_input

from .support import jsonl, request_line

BIG = 10_000


def test_valid_file_gives_its_lines_in_order() -> None:
    result = validate_input(jsonl(request_line("a"), request_line("b")), BIG)

    assert result.errors == []
    assert [(line.line, line.custom_id) for line in result.lines] == [(1, "a"), (2, "b")]
    assert result.lines[0].body["messages"][0]["content"] == "hello"


@pytest.mark.parametrize(
    ("bad_line", "code", "param"),
    [
        ("{not json", "invalid_json_line", None),
        ("[1, 2]", "invalid_json_line", None),
        ({**request_line("x"), "url": "/v1/embeddings"}, "invalid_url", "url"),
        ({**request_line("x"), "method": "GET"}, "invalid_method", "method"),
        (
            {k: v for k, v in request_line("x").items() if k != "custom_id"},
            "missing_required_parameter",
            "custom_id",
        ),
        ({**request_line("x"), "custom_id": 7}, "invalid_value", "custom_id"),
        ({**request_line("x"), "custom_id": ""}, "invalid_value", "custom_id"),
        ({**request_line("x"), "body": "text"}, "invalid_value", "body"),
        ({**request_line("x"), "extra": 1}, "unknown_parameter", "extra"),
    ],
)
def test_a_bad_line_fails_the_file_naming_the_line(
    bad_line: object, code: str, param: str | None
) -> None:
    result = validate_input(jsonl(request_line("a"), bad_line, request_line("c")), BIG)

    assert result.lines == []
    [error] = result.errors
    assert (error.code, error.line, error.param) == (code, 2, param)


def test_duplicate_custom_id_names_the_second_line() -> None:
    result = validate_input(jsonl(request_line("a"), request_line("b"), request_line("a")), BIG)

    [error] = result.errors
    assert (error.code, error.line, error.param) == ("duplicate_custom_id", 3, "custom_id")


def test_every_bad_line_is_reported() -> None:
    result = validate_input(jsonl("{", request_line("ok"), "}"), BIG)

    assert [(e.code, e.line) for e in result.errors] == [
        ("invalid_json_line", 1),
        ("invalid_json_line", 3),
    ]


def test_blank_lines_are_skipped_but_counted() -> None:
    result = validate_input(b"\n" + jsonl(request_line("a")) + b"\n\n" + jsonl("{"), BIG)

    [error] = result.errors
    assert error.line == 5


@pytest.mark.parametrize(
    ("content", "max_lines", "code"),
    [
        (b"", 10, "empty_file"),
        (b"\n \n", 10, "empty_file"),
        (b"\xff\xfe", 10, "invalid_file"),
        (jsonl(*(request_line(str(n)) for n in range(4))), 3, "too_many_requests"),
    ],
)
def test_whole_file_problems(content: bytes, max_lines: int, code: str) -> None:
    [error] = validate_input(content, BIG, max_lines).errors

    assert error.code == code
    assert error.line is None


def test_too_many_bytes() -> None:
    content = jsonl(request_line("a", "x" * 200))

    [error] = validate_input(content, max_bytes=len(content) - 1).errors

    assert error.code == "file_too_large"
    assert str(len(content) - 1) in error.message


def test_a_body_the_chat_route_would_refuse_still_validates() -> None:
    # The route judges bodies when the line runs: one bad body fails that line only.
    line = request_line("a", temperature="hot")

    assert validate_input(jsonl(line), BIG).errors == []


def test_parse_lines_refuses_a_file_that_no_longer_validates() -> None:
    assert [line.custom_id for line in parse_lines(jsonl(request_line("a")))] == ["a"]
    with pytest.raises(ValueError, match="no longer valid"):
        parse_lines(jsonl(request_line("a"), request_line("a")))


def test_unicode_custom_id_survives() -> None:
    result = validate_input(json.dumps(request_line("ünï ✓"), ensure_ascii=False).encode(), BIG)

    assert result.lines[0].custom_id == "ünï ✓"
