"""Answers from the TGI LLM component."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag_app.errors import UpstreamFailed
from rag_app.services.sagemaker_runtime import SageMakerRuntime

ROLE = "language model"


@dataclass(frozen=True)
class GenerationParams:
    """TGI sampling parameters for one request."""

    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    stop: list[str]
    # TGI keeps the last `truncate` input tokens: a safety net if our estimate undercounts.
    truncate: int

    def to_tgi(self) -> dict[str, Any]:
        """The `parameters` object of a TGI request."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "do_sample": True,
            "return_full_text": False,
            "stop": self.stop,
            "details": True,
            "truncate": self.truncate,
        }


@dataclass(frozen=True)
class Generation:
    """The generated text and what TGI reported about it."""

    text: str
    generated_tokens: int | None
    finish_reason: str | None


class Generator:
    """Sends prompts to TGI: {"inputs", "parameters"} -> [{"generated_text", "details"}]."""

    def __init__(self, runtime: SageMakerRuntime, component: str) -> None:
        self.runtime = runtime
        self.component = component

    async def generate(self, prompt: str, params: GenerationParams) -> Generation:
        """The model's continuation of `prompt`."""
        answer = await self.runtime.invoke(
            self.component, {"inputs": prompt, "parameters": params.to_tgi()}, role=ROLE
        )
        return parse_generation(answer)


def parse_generation(answer: Any) -> Generation:
    """The first generation of a TGI answer, or UpstreamFailed if there is none."""
    first = answer[0] if isinstance(answer, list) and answer else answer
    text = first.get("generated_text") if isinstance(first, dict) else None
    if not isinstance(text, str):
        raise UpstreamFailed(
            f"The {ROLE} returned an unexpected response.", detail=repr(answer)[:200]
        )
    details = first.get("details")
    details = details if isinstance(details, dict) else {}
    tokens = details.get("generated_tokens")
    reason = details.get("finish_reason")
    return Generation(
        text=text.strip(),
        generated_tokens=tokens
        if isinstance(tokens, int) and not isinstance(tokens, bool)
        else None,
        finish_reason=reason if isinstance(reason, str) else None,
    )
