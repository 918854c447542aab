"""Output and error files from per-line results, in OpenAI's shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rag_app.batch.models import InputLine, LineError, LineResult, new_id

# OpenAI's codes for lines a batch never ran.
CANCELLED = LineError(
    code="batch_cancelled", message="The batch was cancelled before this request ran."
)
EXPIRED = LineError(
    code="batch_expired",
    message="This request could not be executed before the completion window expired.",
)


@dataclass(frozen=True)
class ResultFiles:
    """The bytes of both files (empty when no line belongs there) and the counts they imply."""

    output: bytes
    errors: bytes
    completed: int
    failed: int


def unrun(custom_id: str, reason: LineError) -> LineResult:
    """The error line of a request the batch stopped before running."""
    return LineResult(id=new_id("batch_req_"), custom_id=custom_id, error=reason)


def build_files(
    lines: list[InputLine], results: dict[str, LineResult], unrun_reason: LineError | None
) -> ResultFiles:
    """One line per input request, in input order: answered (200) lines in `output`, the rest
    in `errors`. A request with no result gets `unrun_reason`; without one it is left out."""
    output: list[str] = []
    errors: list[str] = []
    for line in lines:
        result = results.get(line.custom_id)
        if result is None:
            if unrun_reason is None:
                continue
            result = unrun(line.custom_id, unrun_reason)
        target = output if result.succeeded else errors
        target.append(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
    return ResultFiles(
        output=_jsonl(output), errors=_jsonl(errors), completed=len(output), failed=len(errors)
    )


def _jsonl(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")
