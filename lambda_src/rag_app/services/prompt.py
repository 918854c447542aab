"""Packing the question, earlier turns and as much context as fits into the model's input."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Literal

from rag_app.errors import ContextLengthExceeded
from rag_app.services.retriever import Chunk

CHUNK_SEPARATOR = "\n\n---\n\n"
# Role markers a chat template wraps around each message; a generous guess for the estimate.
MESSAGE_OVERHEAD_TOKENS = 8

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message as the LLM component receives it."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Conversation:
    """What the caller asked: the last question, earlier turns and their own instructions."""

    query: str
    # User and assistant turns before the query, oldest first.
    history: tuple[Message, ...] = ()
    # The caller's system messages, added to the configured instructions.
    instructions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prompt:
    """The model input (a text, or messages), the chunks and turns it holds, its size."""

    chunks: list[Chunk]
    token_estimate: int
    text: str | None = None
    messages: list[Message] | None = None
    history: tuple[Message, ...] = field(default=())

    def render(self) -> str:
        """The input as one string, for the prompt trace."""
        if self.text is not None:
            return self.text
        return json.dumps([message.to_dict() for message in self.messages or []])


def estimate_tokens(text: str, chars_per_token: float) -> int:
    """A conservative token count: ceil(characters / characters per token)."""
    return math.ceil(len(text) / chars_per_token)


class PromptBuilder:
    """Fills the configured prompt within an input token budget.

    Budget order: the question and the caller's instructions must fit (else 422); then the
    best-ranked context; then earlier turns, newest first, while they still fit.
    """

    def __init__(
        self,
        *,
        prompt_format: Literal["template", "chat"],
        template: str,
        max_input_tokens: int,
        chars_per_token: float,
    ) -> None:
        self.prompt_format = prompt_format
        # A template with {context} and {query}, or a system prompt with {context}.
        self.template = template
        self.max_input_tokens = max_input_tokens
        self.chars_per_token = chars_per_token

    def check_fits(self, conversation: Conversation) -> int:
        """The tokens the question and instructions take, or ContextLengthExceeded."""
        frame = self._estimate(conversation, context="", history=())
        if frame > self.max_input_tokens:
            raise ContextLengthExceeded(self.max_input_tokens, frame)
        return frame

    def build(self, conversation: Conversation, ranked_chunks: list[Chunk]) -> Prompt:
        """The input with the best chunks and the most recent turns that fit."""
        frame = self.check_fits(conversation)
        context, used = self.fit_context(ranked_chunks, self.max_input_tokens - frame)
        history = self._fit_history(conversation, context)
        return self._prompt(conversation, context, used, history)

    def fit_context(self, ranked_chunks: list[Chunk], budget: int) -> tuple[str, list[Chunk]]:
        """Context within `budget` tokens: lower-ranked chunks go first, then the last is cut."""
        context = ""
        used: list[Chunk] = []
        for chunk in ranked_chunks:
            prefix = context + CHUNK_SEPARATOR if used else ""
            if self._fits(len(prefix) + len(chunk.content), budget):
                context = prefix + chunk.content
                used.append(chunk)
                continue
            room = math.floor(budget * self.chars_per_token) - len(prefix)
            # Float rounding in budget * chars_per_token must not push the estimate over.
            while room > 0 and not self._fits(len(prefix) + room, budget):
                room -= 1
            if room > 0:
                context = prefix + chunk.content[:room]
                used.append(chunk)
            break
        return context, used

    def _fit_history(self, conversation: Conversation, context: str) -> tuple[Message, ...]:
        kept: tuple[Message, ...] = ()
        for message in reversed(conversation.history):
            candidate = (message, *kept)
            if self._estimate(conversation, context, candidate) > self.max_input_tokens:
                break
            kept = candidate
        return kept

    def _prompt(
        self,
        conversation: Conversation,
        context: str,
        chunks: list[Chunk],
        history: tuple[Message, ...],
    ) -> Prompt:
        """The model input, with its size as the budget counts it."""
        if self.prompt_format == "template":
            text = self.template.format(context=context, query=_query_block(conversation, history))
            estimate = estimate_tokens(text, self.chars_per_token)
            return Prompt(chunks, estimate, text=text, history=history)
        messages = _messages(self.template.format(context=context), conversation, history)
        estimate = sum(
            estimate_tokens(message.content, self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS
            for message in messages
        )
        return Prompt(chunks, estimate, messages=messages, history=history)

    def _estimate(
        self, conversation: Conversation, context: str, history: tuple[Message, ...]
    ) -> int:
        return self._prompt(conversation, context, [], history).token_estimate

    def _fits(self, length: int, budget: int) -> bool:
        return math.ceil(length / self.chars_per_token) <= budget


def _query_block(conversation: Conversation, history: tuple[Message, ...]) -> str:
    """What fills {query}: instructions, then earlier turns as a transcript, then the question.

    With neither instructions nor history it is the question alone, as /rag sends it.
    """
    transcript = "\n".join(f"{m.role.capitalize()}: {m.content}" for m in history)
    parts = [*conversation.instructions, transcript, conversation.query]
    return "\n\n".join(part for part in parts if part)


def _messages(
    system_prompt: str, conversation: Conversation, history: tuple[Message, ...]
) -> list[Message]:
    # One system message: many chat templates accept a system message only in first place.
    system = "\n\n".join([system_prompt, *conversation.instructions])
    return [
        Message("system", system),
        *history,
        Message("user", conversation.query),
    ]
