"""Short helper questions to the LLM (rewrite a question, name its author), greedy and brief."""

from __future__ import annotations

from rag_app.services.generation import GenerationParams
from rag_app.services.generator import Generator
from rag_app.services.prompt import Message, Prompt, estimate_tokens
from rag_app.settings import Settings

# The engine's stop-sequence limit (TGI: 4), as for answers.
MAX_STOP_SEQUENCES = 4


class HelperLlm:
    """Asks the LLM component a one-shot question in the config's prompt format."""

    def __init__(self, generator: Generator, settings: Settings) -> None:
        self.generator = generator
        self.settings = settings

    async def ask(self, question: str, max_new_tokens: int) -> str:
        """The model's reply to `question`, at temperature 0 (the same reply every time)."""
        settings = self.settings
        estimate = estimate_tokens(question, settings.chars_per_token)
        prompt = (
            Prompt([], estimate, text=question)
            if settings.prompt_format == "template"
            else Prompt([], estimate, messages=[Message("user", question)])
        )
        params = GenerationParams(
            max_new_tokens=min(max_new_tokens, settings.max_new_tokens),
            temperature=0,
            top_p=settings.top_p,
            repetition_penalty=settings.repetition_penalty,
            stop=settings.stop[:MAX_STOP_SEQUENCES],
            truncate=settings.max_input_tokens,
        )
        generation = await self.generator.generate(prompt, params)
        return generation.text
