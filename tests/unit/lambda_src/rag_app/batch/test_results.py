"""Output and error files: each custom_id exactly once, in OpenAI's line shapes."""

from __future__ import annotations

import json

from rag_app.batch.models import InputLine, LineResponse, LineResult
from rag_app.batch.results import CANCELLED, build_files


def line(custom_id: str, number: int) -> InputLine:
    return InputLine(
        line=number, custom_id=custom_id, method="POST", url="/v1/chat/completions", body={}
    )


def answered(custom_id: str, status: int) -> LineResult:
    body = {"id": "chatcmpl-1"} if status == 200 else {"error": {"code": "invalid_value"}}
    return LineResult(
        id=f"batch_req_{custom_id}",
        custom_id=custom_id,
        response=LineResponse(status_code=status, request_id="req-1", body=body),
    )


def read(data: bytes) -> list[dict[str, object]]:
    return [json.loads(text) for text in data.decode().splitlines()]


def test_answers_go_to_output_failures_to_errors_unrun_lines_get_the_reason() -> None:
    lines = [line("ok", 1), line("bad", 2), line("never", 3)]
    results = {"ok": answered("ok", 200), "bad": answered("bad", 400)}

    files = build_files(lines, results, CANCELLED)

    [output] = read(files.output)
    assert output == {
        "id": "batch_req_ok",
        "custom_id": "ok",
        "response": {"status_code": 200, "request_id": "req-1", "body": {"id": "chatcmpl-1"}},
        "error": None,
    }
    bad, never = read(files.errors)
    assert bad["custom_id"] == "bad"
    assert bad["response"]["status_code"] == 400  # type: ignore[index]
    assert bad["error"] is None
    assert never["custom_id"] == "never"
    assert never["response"] is None
    assert never["error"] == {"code": "batch_cancelled", "message": CANCELLED.message}
    assert str(never["id"]).startswith("batch_req_")
    assert (files.completed, files.failed) == (1, 2)


def test_results_of_lines_not_in_the_input_are_ignored_and_order_is_the_inputs() -> None:
    lines = [line("b", 1), line("a", 2)]
    results = {"a": answered("a", 200), "b": answered("b", 200), "stray": answered("stray", 200)}

    files = build_files(lines, results, None)

    assert [item["custom_id"] for item in read(files.output)] == ["b", "a"]
    assert files.errors == b""


def test_without_a_reason_unrun_lines_are_left_out() -> None:
    files = build_files([line("a", 1)], {}, None)

    assert (files.output, files.errors, files.completed, files.failed) == (b"", b"", 0, 0)
