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
from rag_app.services.sse import StopTrimmer


class StreamParser(Protocol):
    """Turns a stream's payload parts into text deltas and, at the end, the Generation."""

    def feed(self, part: bytes) -> list[str]: ...

    def finish(self) -> tuple[list[str], Generation]: ...


class TokenStream:
    """A generation arriving as text deltas; `generation` is set once it has ended."""

    def __init__(
        self, stream: ResponseStream, parser: StreamParser, app_stop: list[str] | None = None
    ) -> None:
        self._stream = stream
        self._parser = parser
        # Stop strings the engine was not given: the app ends the answer at them.
        self._app_stop = StopTrimmer(app_stop or [])
        self._trim = _EdgeWhitespace()
        self._text = ""
        self.generation: Generation | None = None

    async def deltas(self) -> AsyncGenerator[str]:
        """The text as it is generated, stop strings removed and without the whitespace that
        opens or closes it (the buffered answer is stripped the same way)."""
        async for part in self._stream.parts():
            for delta in self._parser.feed(part):
                if text := self._pass(delta):
                    yield text
                if self._app_stop.stopped:
                    self._stopped_by_app()
                    return
        tail, generation = self._parser.finish()
        for delta in [*tail, self._app_stop.flush()]:
            if text := self._pass(delta):
                yield text
        self.generation = generation
        if self._app_stop.stopped:
            self._stopped_by_app()

    def _pass(self, delta: str) -> str:
        text = self._trim.feed(self._app_stop.feed(delta))
        self._text += text
        return text

    def _stopped_by_app(self) -> None:
        """An app-applied stop string matched: the model has said enough."""
        self.close()
        self.generation = Generation(self._text, generated_tokens=None, finish_reason="stop")

    def close(self) -> None:
        """Hang up on the model: it stops generating for a caller who is gone."""
        self._stream.close()

    def expire(self) -> None:
        """The deadline passed: hang up, and the deltas end with TimeoutError."""
        self._stream.expire()


class _EdgeWhitespace:
    """Drops leading whitespace and holds back trailing whitespace until text follows it."""

    def __init__(self) -> None:
        self._started = False
        self._held = ""

    def feed(self, delta: str) -> str:
        if not self._started:
            delta = delta.lstrip()
            self._started = bool(delta)
        text = self._held + delta
        ready = text.rstrip()
        self._held = text[len(ready) :]
        return ready


class Generator:
    """Sends model inputs to the LLM component and reads its answers."""

    def __init__(self, runtime: SageMakerRuntime, component: str, engine: str) -> None:
        self.runtime = runtime
        self.component = component
        self.engine = engine

    def _tgi_generate_input(self, prompt: Prompt) -> str | None:
        """The text prompt TGI's generate contract takes, or None for the OpenAI contract."""
        return prompt.text if self.engine == "tgi" else None

    def _kept_stop(self, params: GenerationParams) -> list[str]:
        """Stop strings the engine leaves in its answer: TGI keeps them, vLLM does not."""
        return params.stop if self.engine == "tgi" else []

    def request_body(
        self, prompt: Prompt, params: GenerationParams, *, stream: bool
    ) -> dict[str, Any]:
        """What the component receives for this input."""
        text = self._tgi_generate_input(prompt)
        if text is not None:
            return tgi_contract.request_body(text, params, stream=stream)
        return openai_contract.request_body(prompt, params, engine=self.engine, stream=stream)

    async def generate(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """The whole answer from one InvokeEndpoint call."""
        body = self.request_body(prompt, params, stream=False)
        answer = await self.runtime.invoke(self.component, body, role=ROLE)
        if self._tgi_generate_input(prompt) is not None:
            generation = tgi_contract.parse_answer(answer, params.stop)
        else:
            generation = openai_contract.parse_answer(answer, self._kept_stop(params))
        return _cut_at(generation, params.app_stop)

    async def stream(self, prompt: Prompt, params: GenerationParams) -> TokenStream:
        """The answer token by token (InvokeEndpointWithResponseStream)."""
        body = self.request_body(prompt, params, stream=True)
        parser: StreamParser = (
            tgi_contract.StreamParser(params.stop)
            if self._tgi_generate_input(prompt) is not None
            else openai_contract.StreamParser(self._kept_stop(params))
        )
        stream = await self.runtime.open_stream(self.component, body, role=ROLE)
        return TokenStream(stream, parser, params.app_stop)


def _cut_at(generation: Generation, stops: list[str]) -> Generation:
    """The buffered answer ended at the first app-applied stop string, if one occurs."""
    found = [generation.text.find(stop) for stop in stops if stop in generation.text]
    if not found:
        return generation
    text = generation.text[: min(found)].strip()
    return Generation(text, generation.generated_tokens, "stop", generation.prompt_tokens)
