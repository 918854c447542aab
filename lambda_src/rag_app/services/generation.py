"""What the app asks of the LLM and what it gets back, whichever engine serves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rag_app.errors import UpstreamFailed

ROLE = "language model"

# OpenAI's finish reasons: the model ended (end of sequence or a stop string), or hit a limit.
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling for one request; temperature 0 means greedy decoding."""

    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    stop: list[str]
    # The engine keeps only the last `truncate` input tokens: a safety net if our estimate
    # undercounts.
    truncate: int
    seed: int | None = None
    # Stop strings beyond what every engine takes (TGI: 4), applied by the app.
    app_stop: list[str] = field(default_factory=list)
    # The JSON schema the answer must fit (structured output), enforced by the engine.
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Generation:
    """The generated text (stop strings removed) and what the engine reported about it."""

    text: str
    generated_tokens: int | None
    finish_reason: FinishReason | None
    prompt_tokens: int | None = None


def finish_reason(raw: object) -> FinishReason | None:
    """The OpenAI finish reason for an engine's own (TGI: eos_token, stop_sequence, length)."""
    if raw in ("stop", "eos_token", "stop_sequence"):
        return "stop"
    if raw == "length":
        return "length"
    return None


def count(value: object) -> int | None:
    """A token count from an engine's JSON, or None if it is not a non-negative integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def unexpected(answer: Any) -> UpstreamFailed:
    """The error for an LLM answer that is not what its contract promises."""
    return UpstreamFailed(f"The {ROLE} returned an unexpected response.", detail=repr(answer)[:200])
