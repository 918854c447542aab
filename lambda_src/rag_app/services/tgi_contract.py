"""TGI's generate contract: {"inputs", "parameters"} and its `data:{"token": ...}` stream."""

from __future__ import annotations

import json
from typing import Any

from rag_app.errors import UpstreamFailed
from rag_app.services.generation import (
    ROLE,
    Generation,
    GenerationParams,
    count,
    finish_reason,
    unexpected,
)
from rag_app.services.sse import TextEventStream, without_stop


def request_body(prompt: str, params: GenerationParams, *, stream: bool) -> dict[str, Any]:
    """The body of a generate call; TGI refuses temperature 0 and top_p 1, so they are left out."""
    parameters: dict[str, Any] = {
        "max_new_tokens": params.max_new_tokens,
        "repetition_penalty": params.repetition_penalty,
        "do_sample": params.temperature > 0,
        "return_full_text": False,
        "stop": params.stop,
        "details": True,
        "truncate": params.truncate,
    }
    # TGI samples whenever a sampling parameter is set (do_sample false or not): a greedy
    # call sends neither temperature nor top_p.
    if params.temperature > 0:
        parameters["temperature"] = params.temperature
        if params.top_p < 1:
            parameters["top_p"] = params.top_p
    if params.seed is not None:
        parameters["seed"] = params.seed
    if params.json_schema is not None:
        # TGI's constrained decoding (grammar-guided, like vLLM's).
        parameters["grammar"] = {"type": "json", "value": params.json_schema}
    body: dict[str, Any] = {"inputs": prompt, "parameters": parameters}
    if stream:
        body["stream"] = True
    return body


def parse_answer(answer: Any, stop: list[str]) -> Generation:
    """The first generation of a TGI answer, or UpstreamFailed if there is none."""
    first = answer[0] if isinstance(answer, list) and answer else answer
    text = first.get("generated_text") if isinstance(first, dict) else None
    if not isinstance(text, str):
        raise unexpected(answer)
    details = first.get("details")
    details = details if isinstance(details, dict) else {}
    reason = finish_reason(details.get("finish_reason"))
    if details.get("finish_reason") == "stop_sequence":
        text = without_stop(text, stop)
    return Generation(
        text=text.strip(),
        generated_tokens=count(details.get("generated_tokens")),
        finish_reason=reason,
    )


class StreamParser(TextEventStream):
    """Token events of a streamed generate call into text deltas, then the Generation."""

    def __init__(self, stop: list[str]) -> None:
        # TGI leaves a matched stop string in its output.
        super().__init__(kept_stop=stop)
        self._tokens = 0
        self._details: dict[str, Any] = {}

    def finish(self) -> tuple[list[str], Generation]:
        """The last deltas and the whole answer, once the stream has ended."""
        deltas = self.close()
        if not self._details:
            raise UpstreamFailed(
                f"The {ROLE} stream ended before its last token.", detail=self.text[-200:]
            )
        generation = Generation(
            text=self.text.strip(),
            generated_tokens=count(self._details.get("generated_tokens")) or self._tokens,
            finish_reason=finish_reason(self._details.get("finish_reason")),
            prompt_tokens=count(self._details.get("input_length")),
        )
        return deltas, generation

    def event_text(self, data: str) -> str:
        try:
            event = json.loads(data)
        except ValueError:
            raise unexpected(data) from None
        if not isinstance(event, dict):
            raise unexpected(event)
        if "error" in event:
            raise UpstreamFailed(f"The {ROLE} failed while generating.", detail=repr(event)[:300])
        token = event.get("token")
        if not isinstance(token, dict) or not isinstance(token.get("text"), str):
            raise unexpected(event)
        self._tokens += 1
        details = event.get("details")
        if isinstance(details, dict):
            self._details = details
        elif event.get("generated_text") is not None:
            # The last event of a stream asked for without details.
            self._details = {"finish_reason": None}
        return "" if token.get("special") else str(token["text"])
