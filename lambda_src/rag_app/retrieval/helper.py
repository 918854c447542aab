"""Short helper questions to an LLM (rewrite a question, name its author), greedy and brief."""

from __future__ import annotations

from rag_app.services.generation import GenerationParams
from rag_app.services.generator import Generator
from rag_app.services.prompt import Message, Prompt, estimate_tokens
from rag_app.services.sagemaker_runtime import SageMakerRuntime
from rag_app.settings import HelperModel, Settings

# The engine's stop-sequence limit (TGI: 4), as for answers.
MAX_STOP_SEQUENCES = 4


class HelperLlm:
    """Asks a one-shot question of the helper component, or of the LLM component without one."""

    def __init__(self, generator: Generator, target: HelperModel, settings: Settings) -> None:
        self.generator = generator
        self.target = target
        self.settings = settings

    @classmethod
    def for_settings(
        cls, settings: Settings, runtime: SageMakerRuntime, llm: Generator
    ) -> HelperLlm:
        """The configured helper component (RAG_HELPER), or the LLM component `llm`."""
        if settings.helper is not None:
            helper = settings.helper
            return cls(Generator(runtime, helper.component, helper.engine), helper, settings)
        # Without one, the LLM component answers in its own format and within its own limits.
        llm_as_helper = HelperModel(
            component=settings.llm_component,
            engine=settings.llm_engine,
            prompt_format=settings.prompt_format,
            max_input_tokens=settings.max_input_tokens,
            max_new_tokens=settings.max_new_tokens,
            stop=settings.stop,
        )
        return cls(llm, llm_as_helper, settings)

    async def ask(self, question: str, max_new_tokens: int) -> str:
        """The model's reply to `question`, at temperature 0 (the same reply every time)."""
        target = self.target
        estimate = estimate_tokens(question, self.settings.chars_per_token)
        prompt = (
            Prompt([], estimate, text=question)
            if target.prompt_format == "template"
            else Prompt([], estimate, messages=[Message("user", question)])
        )
        params = GenerationParams(
            max_new_tokens=min(max_new_tokens, target.max_new_tokens),
            temperature=0,
            top_p=self.settings.top_p,
            repetition_penalty=self.settings.repetition_penalty,
            stop=target.stop[:MAX_STOP_SEQUENCES],
            truncate=target.max_input_tokens,
        )
        generation = await self.generator.generate(prompt, params)
        return generation.text
