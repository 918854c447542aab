"""Answers from the LLM component, buffered or streamed, in the contract its engine speaks.

vLLM: OpenAI completions (a text prompt) or chat completions (messages). TGI: its generate
contract for a text prompt, which keeps `truncate` and per-token details, and its OpenAI chat
route for messages (the generate contract cannot apply a chat template).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from rag_app.services import openai_contract, tgi_contract
from rag_app.services.generation import ROLE, Generation, GenerationParams
from rag_app.services.prompt import Prompt
from rag_app.services.sagemaker_runtime import ResponseStream, SageMakerRuntime


class StreamParser(Protocol):
    """Turns a stream's payload parts into text deltas and, at the end, the Generation."""

    def feed(self, part: bytes) -> list[str]: ...

    def finish(self) -> tuple[list[str], Generation]: ...


class TokenStream:
    """A generation arriving as text deltas; `generation` is set once it has ended."""

    def __init__(self, stream: ResponseStream, parser: StreamParser) -> None:
        self._stream = stream
        self._parser = parser
        self.generation: Generation | None = None

    async def deltas(self) -> AsyncGenerator[str]:
        """The text as it is generated (stop strings removed), then the end of the stream."""
        async for part in self._stream.parts():
            for delta in self._parser.feed(part):
                yield delta
        tail, self.generation = self._parser.finish()
        for delta in tail:
            yield delta

    def close(self) -> None:
        """Hang up on the model: it stops generating for a caller who is gone."""
        self._stream.close()

    def expire(self) -> None:
        """The deadline passed: hang up, and the deltas end with TimeoutError."""
        self._stream.expire()


class Generator:
    """Sends model inputs to the LLM component and reads its answers."""

    def __init__(self, runtime: SageMakerRuntime, component: str, engine: str) -> None:
        self.runtime = runtime
        self.component = component
        self.engine = engine

    def _uses_tgi_generate(self, prompt: Prompt) -> bool:
        return self.engine == "tgi" and prompt.text is not None

    def _kept_stop(self, params: GenerationParams) -> list[str]:
        """Stop strings the engine leaves in its answer: TGI keeps them, vLLM does not."""
        return params.stop if self.engine == "tgi" else []

    def request_body(
        self, prompt: Prompt, params: GenerationParams, *, stream: bool
    ) -> dict[str, Any]:
        """What the component receives for this input."""
        if self._uses_tgi_generate(prompt):
            assert prompt.text is not None
            return tgi_contract.request_body(prompt.text, params, stream=stream)
        return openai_contract.request_body(prompt, params, engine=self.engine, stream=stream)

    async def generate(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """The whole answer from one InvokeEndpoint call."""
        body = self.request_body(prompt, params, stream=False)
        answer = await self.runtime.invoke(self.component, body, role=ROLE)
        if self._uses_tgi_generate(prompt):
            return tgi_contract.parse_answer(answer, params.stop)
        return openai_contract.parse_answer(answer, self._kept_stop(params))

    async def stream(self, prompt: Prompt, params: GenerationParams) -> TokenStream:
        """The answer token by token (InvokeEndpointWithResponseStream)."""
        body = self.request_body(prompt, params, stream=True)
        parser: StreamParser = (
            tgi_contract.StreamParser(params.stop)
            if self._uses_tgi_generate(prompt)
            else openai_contract.StreamParser(self._kept_stop(params))
        )
        stream = await self.runtime.open_stream(self.component, body, role=ROLE)
        return TokenStream(stream, parser)
