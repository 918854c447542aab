"""Checks an input file before any line runs: OpenAI's JSONL of `{custom_id, method, url, body}`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rag_app.batch.limits import MAX_LINES
from rag_app.batch.models import BATCH_ENDPOINT, BatchError, InputLine

MAX_CUSTOM_ID_CHARS = 512
# A batch that fails on every line reports the first ones; the rest add nothing.
MAX_REPORTED_ERRORS = 50
REQUIRED_FIELDS = ("custom_id", "method", "url", "body")


@dataclass(frozen=True)
class Validated:
    """The outcome: the lines when `errors` is empty, otherwise why the file cannot run."""

    lines: list[InputLine]
    errors: list[BatchError]


def validate_input(content: bytes, max_bytes: int, max_lines: int = MAX_LINES) -> Validated:
    """Every line parsed and checked; the errors name the 1-based line at fault."""
    if len(content) > max_bytes:
        message = f"The input file is {len(content)} bytes; a batch accepts at most {max_bytes}."
        return _failed(BatchError(code="file_too_large", message=message))
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return _failed(BatchError(code="invalid_file", message="The file is not UTF-8 text."))
    # A trailing newline ends the last line; it does not start an empty one.
    raw_lines = [(number, raw) for number, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    if not raw_lines:
        return _failed(BatchError(code="empty_file", message="The input file has no requests."))
    if len(raw_lines) > max_lines:
        message = f"The file has {len(raw_lines)} requests; a batch accepts at most {max_lines}."
        return _failed(BatchError(code="too_many_requests", message=message))
    lines: list[InputLine] = []
    errors: list[BatchError] = []
    seen: set[str] = set()
    for number, raw in raw_lines:
        line, error = _parse_line(number, raw)
        if error is None and line is not None and line.custom_id in seen:
            error = BatchError(
                code="duplicate_custom_id",
                message="The custom_id of this request is a duplicate of an earlier one; "
                "each request of a batch needs its own.",
                param="custom_id",
                line=number,
            )
        if error is not None:
            errors.append(error)
        elif line is not None:
            seen.add(line.custom_id)
            lines.append(line)
    return Validated(lines=lines if not errors else [], errors=errors[:MAX_REPORTED_ERRORS])


def parse_lines(content: bytes) -> list[InputLine]:
    """The lines of a file that passed `validate_input` (runners re-read the stored input)."""
    validated = validate_input(content, max_bytes=len(content), max_lines=sys.maxsize)
    if validated.errors:
        raise ValueError(f"input file no longer valid: {validated.errors[0].message}")
    return validated.lines


def _failed(error: BatchError) -> Validated:
    return Validated(lines=[], errors=[error])


def _parse_line(number: int, raw: str) -> tuple[InputLine | None, BatchError | None]:
    def error(code: str, message: str, param: str | None = None) -> BatchError:
        return BatchError(code=code, message=message, param=param, line=number)

    try:
        item: Any = json.loads(raw)
    except ValueError:
        return None, error("invalid_json_line", "This line is not parseable as valid JSON.")
    if not isinstance(item, dict):
        return None, error("invalid_json_line", "Each line must be a JSON object.")
    for name in REQUIRED_FIELDS:
        if name not in item:
            return None, error(
                "missing_required_parameter", f"Missing required parameter: '{name}'.", name
            )
    unknown = sorted(set(item) - set(REQUIRED_FIELDS))
    if unknown:
        return None, error(
            "unknown_parameter",
            f"Unrecognized request argument supplied: {unknown[0]}.",
            unknown[0],
        )
    custom_id = item["custom_id"]
    if not isinstance(custom_id, str) or not 0 < len(custom_id) <= MAX_CUSTOM_ID_CHARS:
        return None, error(
            "invalid_value",
            f"custom_id must be a string of 1 to {MAX_CUSTOM_ID_CHARS} characters.",
            "custom_id",
        )
    if item["method"] != "POST":
        return None, error("invalid_method", "The method of every request must be POST.", "method")
    if item["url"] != BATCH_ENDPOINT:
        return None, error(
            "invalid_url",
            f"The URL of this request does not match the batch endpoint {BATCH_ENDPOINT}.",
            "url",
        )
    if not isinstance(item["body"], dict):
        return None, error("invalid_value", "body must be a JSON object.", "body")
    return InputLine(line=number, **item), None
