"""A GGUF model run by llama-cpp-python, yielding one token at a time with its log-probability."""

from __future__ import annotations

import codecs
import math
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import LlamaGrammar

# Where a GGUF file keeps the Hugging Face chat template of its model.
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
# llama.cpp threads (default: every core), and a seed for the seeds the engines draw when
# a request gives none: another thread count or seed changes the model's words the way
# another CPU does, which is how the test suite is checked not to depend on them.
THREADS_ENV = "LOCAL_LLM_THREADS"
SEED_ENV = "LOCAL_LLM_SEED"
_seeds = random.Random(os.environ.get(SEED_ENV))
# Prompt tokens evaluated between two looks at the cancellation: a hang-up during a long
# prefill frees the model within one such batch (about a second on two free cores). Smaller
# batches cost throughput when the cores are shared: bench/bench_prefill_batches.py.
PREFILL_BATCH = 128


def default_threads() -> int:
    """Every core: prefill, most of a RAG answer's time, scales with them (54 -> 101 tokens/s
    from one to two cores here), and the API and the embedder wait while the model works."""
    return os.cpu_count() or 1


def draw_seed() -> int:
    """A sampling seed for a request that gave none (engines draw a fresh one per request)."""
    return _seeds.getrandbits(32)


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked; temperature 0 means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    # Structured output: the JSON schema (as JSON text) every answer must fit.
    json_schema: str | None = None


class Cancel(threading.Event):
    """A request's cancellation, and where the engine was when it saw it.

    `seen` is the endpoint's own record of a cancellation, written into `stats` when given.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested_at: float | None = None
        self.seen: dict[str, Any] | None = None
        self.stats: dict[str, Any] | None = None

    def set(self) -> None:
        if not self.is_set():
            self.requested_at = time.monotonic()
        super().set()

    def observe(self, phase: str, **where: int) -> None:
        """The engine stopped working for this request during `phase`."""
        if self.seen is not None or self.requested_at is None:
            return
        after = round(time.monotonic() - self.requested_at, 3)
        self.seen = {"phase": phase, "seconds_after_request": after, "at": time.time(), **where}
        if self.stats is not None:
            self.stats["cancelled"] = self.seen


def observe_cancel(cancel: threading.Event | None, phase: str, **where: int) -> bool:
    """Whether `cancel` is set; if so, a Cancel records where the engine saw it."""
    if cancel is None or not cancel.is_set():
        return False
    if isinstance(cancel, Cancel):
        cancel.observe(phase, **where)
    return True


@dataclass(frozen=True)
class GeneratedToken:
    """One sampled token: `text` is its decoded piece, `eog` marks end of generation."""

    id: int
    text: str
    logprob: float
    special: bool
    eog: bool


class Engine(Protocol):
    """What the serving contracts need of a model: tokens in, tokens out.

    LlamaEngine is the real one; tests inject scripted engines where the subject is the
    server's behaviour rather than the model's words.
    """

    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    def format_chat(self, messages: list[dict[str, str]]) -> str: ...

    def generate(
        self,
        input_ids: list[int],
        sampling: Sampling,
        cancel: threading.Event | None = None,
        stop_at_end: bool = True,
    ) -> Iterator[GeneratedToken]: ...


class LlamaEngine:
    """Owns one llama.cpp context; callers must serialize `generate` (it is not thread-safe)."""

    def __init__(self, gguf: Path, n_ctx: int, n_threads: int | None = None) -> None:
        threads = n_threads or int(os.environ.get(THREADS_ENV) or 0) or default_threads()
        # llama.cpp prints its load log on the C side; verbose=False keeps start-up readable.
        with _without_extra_buffer_types():
            self.llama = llama_cpp.Llama(
                model_path=str(gguf),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        self.path = gguf
        self._vocab = self.llama._model.vocab
        self._n_vocab = self.llama.n_vocab()
        # Tokenizing only reads the vocabulary, but keep it off the decoding thread's toes.
        self._tokenize_lock = threading.Lock()
        self._chat_formatter: Jinja2ChatFormatter | None = None

    @property
    def n_ctx(self) -> int:
        return self.llama.n_ctx()

    @property
    def n_ctx_train(self) -> int:
        return int(self.llama._model.n_ctx_train())

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Token ids of a prompt, parsing special tokens such as `<|im_start|>` like TGI does.

        `add_special`: add the model's BOS token; a rendered chat template has it already.
        """
        with self._tokenize_lock:
            return self.llama.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        """The messages in the model's own chat template (from the GGUF), ready to generate."""
        if self._chat_formatter is None:
            template = self.llama.metadata.get(CHAT_TEMPLATE_KEY)
            if not template:
                raise ValueError(f"{self.path.name} carries no chat template")
            model = self.llama._model
            eos, bos = self.llama.token_eos(), self.llama.token_bos()
            self._chat_formatter = Jinja2ChatFormatter(
                template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
            )
        # llama-cpp-python types messages as TypedDicts; plain role/content dicts are what it reads.
        return str(self._chat_formatter(messages=cast(Any, messages)).prompt)

    def detokenize(self, tokens: list[int]) -> str:
        """Text of token ids without special tokens."""
        with self._tokenize_lock:
            raw = self.llama.detokenize(tokens)
        return raw.decode("utf-8", errors="replace")

    def generate(
        self,
        input_ids: list[int],
        sampling: Sampling,
        cancel: threading.Event | None = None,
        stop_at_end: bool = True,
    ) -> Iterator[GeneratedToken]:
        """Sample tokens after `input_ids` until end of generation, a full context or `cancel`.

        `stop_at_end=False` goes on past the end-of-generation token (vLLM's ignore_eos).
        """
        llama = self.llama
        # llama.cpp draws its sampling seed from the Llama object.
        if sampling.seed is not None:
            llama.set_seed(sampling.seed)
        room = self.n_ctx - len(input_ids)
        decoder = _Utf8Pieces()
        if not self._prefill(input_ids, cancel):
            return
        grammar = (
            LlamaGrammar.from_json_schema(sampling.json_schema, verbose=False)
            if sampling.json_schema is not None
            else None
        )
        # min_p is off: TGI has no such warper, and llama.cpp turns it on by default.
        # The prompt but its last token is evaluated already: generate finds it cached.
        tokens = llama.generate(
            input_ids,
            temp=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=0.0,
            typical_p=sampling.typical_p,
            repeat_penalty=sampling.repetition_penalty,
            grammar=grammar,
        )
        try:
            for produced, token in enumerate(tokens, start=1):
                eog = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
                special = eog or bool(llama_cpp.llama_vocab_is_control(self._vocab, token))
                piece = self.llama._model.token_to_piece(token, special).rstrip(b"\0")
                text = piece.decode("utf-8", errors="replace") if special else decoder.feed(piece)
                yield GeneratedToken(token, text, self._logprob(token), special, eog)
                if (eog and stop_at_end) or produced >= room:
                    return
                if observe_cancel(cancel, "decode", generated_tokens=produced):
                    return
        finally:
            tokens.close()

    def _prefill(self, input_ids: list[int], cancel: threading.Event | None) -> bool:
        """Evaluate the prompt but its last token in small batches, looking at `cancel`
        between them (llama.cpp's generate would read it all in one uninterruptible call).

        False if the request was cancelled first. A prefix already in the KV cache is kept.
        """
        llama = self.llama
        head = input_ids[:-1]
        cached = 0
        for cached_id, new_id in zip(llama.input_ids[: llama.n_tokens], head, strict=False):
            if cached_id != new_id:
                break
            cached += 1
        llama.n_tokens = cached
        for start in range(cached, len(head), PREFILL_BATCH):
            if observe_cancel(
                cancel, "prefill", prompt_tokens_done=start, prompt_tokens=len(head) + 1
            ):
                return False
            llama.eval(head[start : start + PREFILL_BATCH])
        return not observe_cancel(
            cancel, "prefill", prompt_tokens_done=len(head), prompt_tokens=len(head) + 1
        )

    def _logprob(self, token: int) -> float:
        """log softmax of the logits that produced `token` (before sampling warpers)."""
        pointer = llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        peak = float(logits.max())
        total = float(np.exp(logits - peak).sum())
        return float(logits[token]) - peak - math.log(total)


@contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """Load models without llama.cpp's extra CPU buffer types (AMX tiles, repacked Q4_0).

    A natively built llama.cpp uses AMX when the CPU advertises it, and dies of SIGILL in VMs
    (Firecracker) that advertise AMX without enabling it; a Q4_1 model gains nothing from them.
    llama-cpp-python has no argument for it, so its default model parameters are wrapped.
    """
    bindings = llama_cpp.llama_cpp
    defaults = bindings.llama_model_default_params

    def params() -> Any:
        chosen = defaults()
        chosen.use_extra_bufts = False
        return chosen

    bindings.llama_model_default_params = params
    try:
        yield
    finally:
        bindings.llama_model_default_params = defaults


class _Utf8Pieces:
    """Turns token byte pieces into text, holding back the bytes of a character cut in two."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return str(self._decoder.decode(piece))
