"""Stand-in models for tests whose subject is the servers, not what a model happens to say.

A ScriptedEngine writes the words a test gives it, at a pace the test sets, and records what
the server asked of it (and whether it was told to stop), so a test of stopping rules,
streaming or cancellation does not depend on a real model's choices or on the CPU.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from local.containers import ContainerResponse
from local.llm import GeneratedToken, Sampling

END = "<|end|>"
DIMENSIONS = 384


@dataclass
class Run:
    """One generation the engine was asked for."""

    input_ids: list[int]
    sampling: Sampling
    produced: int = 0
    cancelled: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    finished_at: float | None = None


class ScriptedEngine:
    """Tokens are whitespace-separated words; it writes `words` in turn, `delay_s` apart.

    `end_after`: emit the end-of-generation token after that many words (None: never).
    """

    def __init__(
        self, words: list[str], *, delay_s: float = 0.0, end_after: int | None = None
    ) -> None:
        self.words = words
        self.delay_s = delay_s
        self.end_after = end_after
        self.runs: list[Run] = []
        self.started = threading.Event()

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [len(word) for word in text.split()] or [0]

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*lines, "assistant:"])

    def generate(
        self,
        input_ids: list[int],
        sampling: Sampling,
        cancel: threading.Event | None = None,
        stop_at_end: bool = True,
    ) -> Iterator[GeneratedToken]:
        run = Run(input_ids, sampling)
        self.runs.append(run)
        self.started.set()
        try:
            for index in itertools.count():
                if cancel is not None and cancel.is_set():
                    run.cancelled = True
                    return
                if self.delay_s:
                    time.sleep(self.delay_s)
                if self.end_after is not None and index == self.end_after:
                    yield GeneratedToken(0, END, -0.01, special=True, eog=True)
                    if stop_at_end:
                        return
                    continue
                word = self.words[index % len(self.words)]
                run.produced += 1
                yield GeneratedToken(index + 1, word, -0.5, special=False, eog=False)
        finally:
            run.finished_at = time.monotonic()
            run.finished.set()


class FixedEmbeddingContainer:
    """A TEI stand-in that embeds everything as the same unit vector."""

    kind = "embedding"

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse:
        inputs = json.loads(body)["inputs"]
        count = 1 if isinstance(inputs, str) else len(inputs)
        vector = [1 / math.sqrt(DIMENSIONS)] * DIMENSIONS
        return ContainerResponse(200, "application/json", _once(json.dumps([vector] * count)))

    def close(self) -> None:
        pass


async def _once(text: str) -> AsyncIterator[bytes]:
    yield text.encode()


def sse_data(lines: list[str]) -> list[Any]:
    """The JSON payloads of `data:` lines (with or without a space), [DONE] left as is."""
    events: list[Any] = []
    for line in lines:
        if line.startswith("data:"):
            data = line.removeprefix("data:").strip()
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


class ServerThread:
    """An ASGI app served by uvicorn on a thread of this process, on a free port."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
