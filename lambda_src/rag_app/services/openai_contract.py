"""OpenAI's completions and chat contract, which vLLM (and TGI) serve on `/invocations`.

A text prompt goes as a completion (`{"prompt"}`), messages as a chat completion
(`{"messages"}`, the engine applies the model's chat template). Streams are server-sent
`data: {chunk}` events ending with `data: [DONE]`.
"""

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
from rag_app.services.prompt import Prompt
from rag_app.services.sse import TextEventStream, without_stop

DONE = "[DONE]"
# The name OpenAI's json_schema format requires; the engines do not use it.
SCHEMA_NAME = "answer"


def request_body(
    prompt: Prompt, params: GenerationParams, *, engine: str, stream: bool
) -> dict[str, Any]:
    """A completion for a text prompt, a chat completion for messages."""
    body: dict[str, Any]
    if prompt.messages is not None:
        body = {"messages": [message.to_dict() for message in prompt.messages]}
    else:
        body = {"prompt": prompt.text}
    # Completions default to 16 tokens on vLLM: always say how many.
    body |= {
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "stop": params.stop,
    }
    if engine == "vllm" or (params.temperature > 0 and params.top_p < 1):
        # TGI validates top_p in (0, 1): 1 means "off", so it is left out. And TGI samples
        # whenever top_p is set, even at temperature 0: a greedy call leaves it out too.
        body["top_p"] = params.top_p
    if params.seed is not None:
        body["seed"] = params.seed
    if engine == "vllm":
        # vLLM's own sampling extensions to the OpenAI schema; TGI's chat route has neither.
        body["repetition_penalty"] = params.repetition_penalty
        body["truncate_prompt_tokens"] = params.truncate
    if params.json_schema is not None:
        body["response_format"] = response_format(params.json_schema, engine=engine)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def response_format(schema: dict[str, Any], *, engine: str) -> dict[str, Any]:
    """Structured output as each engine's OpenAI route takes it.

    vLLM: OpenAI's own json_schema format (its guided decoding). TGI's chat route: its
    grammar type, `{"type": "json_object", "value": schema}`.
    """
    if engine == "tgi":
        return {"type": "json_object", "value": schema}
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}


def parse_answer(answer: Any, kept_stop: list[str] | None = None) -> Generation:
    """The first choice of a (chat) completion, or UpstreamFailed.

    `kept_stop`: stop strings the engine leaves in its output (TGI), to remove.
    """
    choice = _first_choice(answer)
    text = _choice_text(choice, streamed=False) if choice is not None else None
    if not isinstance(text, str):
        raise unexpected(answer)
    if choice is not None and choice.get("finish_reason") == "stop_sequence":
        text = without_stop(text, kept_stop or [])
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    return Generation(
        text=text.strip(),
        generated_tokens=count(usage.get("completion_tokens")),
        finish_reason=finish_reason(choice.get("finish_reason") if choice else None),
        prompt_tokens=count(usage.get("prompt_tokens")),
    )


class StreamParser(TextEventStream):
    """Chunks of a streamed (chat) completion into text deltas, then the Generation."""

    def __init__(self, kept_stop: list[str] | None = None) -> None:
        super().__init__(kept_stop)
        self._finish: Any = None
        self._usage: dict[str, Any] = {}
        self._done = False

    def finish(self) -> tuple[list[str], Generation]:
        """The last deltas and the whole answer, once the stream has ended."""
        deltas = self.close()
        if not self._done and self._finish is None:
            raise UpstreamFailed(
                f"The {ROLE} stream ended before its last chunk.", detail=self.text[-200:]
            )
        generation = Generation(
            text=self.text.strip(),
            generated_tokens=count(self._usage.get("completion_tokens")),
            finish_reason=finish_reason(self._finish),
            prompt_tokens=count(self._usage.get("prompt_tokens")),
        )
        return deltas, generation

    def event_text(self, data: str) -> str:
        if data.strip() == DONE:
            self._done = True
            return ""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise unexpected(data) from None
        if not isinstance(chunk, dict):
            raise unexpected(chunk)
        if "error" in chunk or chunk.get("object") == "error":
            raise UpstreamFailed(f"The {ROLE} failed while generating.", detail=data[:300])
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise unexpected(chunk)
        if not choices:
            return ""  # the usage-only chunk
        choice = choices[0] if isinstance(choices[0], dict) else None
        text = _choice_text(choice, streamed=True) if choice is not None else None
        if text is None and choice is not None and not choice.get("finish_reason"):
            raise unexpected(chunk)
        # TGI's streamed completions send "" until the last chunk.
        if choice is not None and choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return text or ""


def _first_choice(answer: Any) -> dict[str, Any] | None:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _choice_text(choice: dict[str, Any], *, streamed: bool) -> str | None:
    """`text` for completions; `message.content` or, streamed, `delta.content` for chat."""
    if isinstance(choice.get("text"), str):
        return str(choice["text"])
    holder = choice.get("delta" if streamed else "message")
    if isinstance(holder, dict):
        content = holder.get("content")
        if isinstance(content, str):
            return content
        if content is None and streamed:
            return ""  # a role-only or final delta
    return None
