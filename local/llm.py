"""A GGUF model run by llama-cpp-python, yielding one token at a time with its log-probability."""

from __future__ import annotations

import codecs
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked; temperature 0 means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class GeneratedToken:
    """One sampled token: `text` is its decoded piece, `eog` marks end of generation."""

    id: int
    text: str
    logprob: float
    special: bool
    eog: bool


class LlamaEngine:
    """Owns one llama.cpp context; callers must serialize `generate` (it is not thread-safe)."""

    def __init__(self, gguf: Path, n_ctx: int, n_threads: int | None = None) -> None:
        # Half the cores by default: llama.cpp threads spin at barriers and collapse when the
        # API, the embedder or anything else needs a core (measured: 18 ms/token on one thread,
        # 70-140 ms/token on two of two busy cores).
        threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        # llama.cpp prints its load log on the C side; verbose=False keeps start-up readable.
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

    @property
    def n_ctx(self) -> int:
        return self.llama.n_ctx()

    @property
    def n_ctx_train(self) -> int:
        return int(self.llama._model.n_ctx_train())

    def tokenize(self, text: str) -> list[int]:
        """Token ids of a prompt, parsing special tokens such as `<|im_start|>` like TGI does."""
        with self._tokenize_lock:
            return self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        """Text of token ids without special tokens."""
        with self._tokenize_lock:
            raw = self.llama.detokenize(tokens)
        return raw.decode("utf-8", errors="replace")

    def generate(
        self, input_ids: list[int], sampling: Sampling, cancel: threading.Event | None = None
    ) -> Iterator[GeneratedToken]:
        """Sample tokens after `input_ids` until end of generation, a full context or `cancel`."""
        llama = self.llama
        # llama.cpp draws its sampling seed from the Llama object.
        if sampling.seed is not None:
            llama.set_seed(sampling.seed)
        room = self.n_ctx - len(input_ids)
        decoder = _Utf8Pieces()
        # min_p is off: TGI has no such warper, and llama.cpp turns it on by default.
        tokens = llama.generate(
            input_ids,
            temp=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=0.0,
            typical_p=sampling.typical_p,
            repeat_penalty=sampling.repetition_penalty,
        )
        try:
            for produced, token in enumerate(tokens, start=1):
                eog = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
                special = eog or bool(llama_cpp.llama_vocab_is_control(self._vocab, token))
                piece = self.llama._model.token_to_piece(token, special).rstrip(b"\0")
                text = piece.decode("utf-8", errors="replace") if special else decoder.feed(piece)
                yield GeneratedToken(token, text, self._logprob(token), special, eog)
                if eog or produced >= room or (cancel is not None and cancel.is_set()):
                    return
        finally:
            tokens.close()

    def _logprob(self, token: int) -> float:
        """log softmax of the logits that produced `token` (before sampling warpers)."""
        pointer = llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        peak = float(logits.max())
        total = float(np.exp(logits - peak).sum())
        return float(logits[token]) - peak - math.log(total)


class _Utf8Pieces:
    """Turns token byte pieces into text, holding back the bytes of a character cut in two."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return str(self._decoder.decode(piece))
