"""Packing the query and as much context as fits into the model's prompt template."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag_app.services.retriever import Chunk

CHUNK_SEPARATOR = "\n\n---\n\n"


@dataclass(frozen=True)
class Prompt:
    """The prompt text, the chunks it holds (best first) and its token estimate."""

    text: str
    chunks: list[Chunk]
    token_estimate: int


def estimate_tokens(text: str, chars_per_token: float) -> int:
    """A conservative token count: ceil(characters / characters per token)."""
    return math.ceil(len(text) / chars_per_token)


class PromptBuilder:
    """Fills `{context}` and `{query}` of a template within an input token budget."""

    def __init__(self, template: str, max_input_tokens: int, chars_per_token: float) -> None:
        self.template = template
        self.max_input_tokens = max_input_tokens
        self.chars_per_token = chars_per_token

    def build(self, query: str, ranked_chunks: list[Chunk]) -> Prompt:
        """The prompt with the best chunks that fit; the last one may be cut short."""
        frame = estimate_tokens(self.template.format(context="", query=query), self.chars_per_token)
        context, used = self.fit_context(ranked_chunks, self.max_input_tokens - frame)
        text = self.template.format(context=context, query=query)
        return Prompt(text, used, estimate_tokens(text, self.chars_per_token))

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

    def _fits(self, length: int, budget: int) -> bool:
        return math.ceil(length / self.chars_per_token) <= budget
