"""Generation throughput of the local endpoint (boto3 InvokeEndpoint) against llama-cpp-python,
for each serving engine's contract (vLLM's OpenAI completions, TGI's generate).

Both sides run the same GGUF with the same prompts (the config's prompt template around each
sample-corpus document), greedy decoding, the config's repetition penalty and the same thread
count; the two sides take turns prompt by prompt, alternating which goes first. The overhead is what HTTP, SigV4, JSON, the
contract's validation and per-token bookkeeping cost on top of llama.cpp. Target: at most
5 %. Prints numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack import free_port, runtime_client

REPO = Path(__file__).resolve().parents[1]
MAX_NEW_TOKENS = 48
ROUNDS = 3
QUESTION = "Summarize the context in two sentences."
TARGET_OVERHEAD = 0.05


@dataclass
class Tally:
    """Generated tokens and the seconds they took, for one side."""

    tokens: int = 0
    seconds: float = 0.0
    texts: list[str] | None = None

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def prompts(template: str) -> list[str]:
    """One prompt per sample document, built like the RAG app builds its prompts."""
    from local.corpus import load_documents
    from local.settings import SAMPLE_CORPUS

    documents, _ = load_documents(SAMPLE_CORPUS)
    return [template.format(context=d.text, query=QUESTION) for d in documents]


def run_direct(llama: Any, batch: list[str], penalty: float) -> Tally:
    """llama-cpp-python's own completion call: the baseline."""
    tally = Tally(texts=[])
    for prompt in batch:
        started = time.perf_counter()
        out = llama.create_completion(
            prompt,
            max_tokens=MAX_NEW_TOKENS,
            temperature=0.0,
            top_k=0,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=penalty,
        )
        tally.seconds += time.perf_counter() - started
        tally.tokens += out["usage"]["completion_tokens"]
        assert tally.texts is not None
        tally.texts.append(out["choices"][0]["text"])
    return tally


def endpoint_body(engine: str, prompt: str, penalty: float) -> dict[str, Any]:
    """The request each engine's contract takes for a greedy generation of MAX_NEW_TOKENS."""
    if engine == "tgi":
        # No sampling parameters: TGI decodes greedily, as the direct call does.
        return {
            "inputs": prompt,
            "parameters": {
                "max_new_tokens": MAX_NEW_TOKENS,
                "repetition_penalty": penalty,
                "details": True,
            },
        }
    return {
        "prompt": prompt,
        "max_tokens": MAX_NEW_TOKENS,
        "temperature": 0,
        "repetition_penalty": penalty,
    }


def generated(engine: str, answer: Any) -> tuple[str, int]:
    """Text and token count of an answer, the end-of-sequence token left out of the count.

    llama-cpp-python does not count the end-of-sequence token; both engines do.
    """
    if engine == "tgi":
        (first,) = answer
        details = first["details"]
        eos = details["finish_reason"] == "eos_token"
        return first["generated_text"], details["generated_tokens"] - eos
    (choice,) = answer["choices"]
    # No stop strings are given, so "stop" means the end-of-sequence token.
    eos = choice["finish_reason"] == "stop"
    return choice["text"], answer["usage"]["completion_tokens"] - eos


def run_endpoint(
    client: Any, engine: str, endpoint: str, component: str, batch: list[str], penalty: float
) -> Tally:
    """The same prompts through boto3 and the local SageMaker stand-in."""
    tally = Tally(texts=[])
    for prompt in batch:
        body = endpoint_body(engine, prompt, penalty)
        started = time.perf_counter()
        response = client.invoke_endpoint(
            EndpointName=endpoint,
            InferenceComponentName=component,
            ContentType="application/json",
            Body=json.dumps(body),
        )
        answer = json.loads(response["Body"].read())
        tally.seconds += time.perf_counter() - started
        text, tokens = generated(engine, answer)
        tally.tokens += tokens
        assert tally.texts is not None
        tally.texts.append(text)
    return tally


def measure(engine: str, model: str) -> None:
    """Both sides for one engine's config, printed."""
    from local.llm import LlamaEngine
    from local.processes import LocalStack
    from local.settings import Ports, resolve_gguf
    from model_config import load_config

    config = load_config(model)
    assert config.prompt_template is not None, "a template config: prompts are built from it"
    gguf = resolve_gguf()
    penalty = config.generation.repetition_penalty
    batch = prompts(config.prompt_template)
    ports = Ports(endpoint=free_port(), api=free_port())
    print(
        f"== {engine} contract (config {config.name}): model {gguf.name}, {len(batch)} prompts x "
        f"{ROUNDS} rounds, max_new_tokens={MAX_NEW_TOKENS}, greedy, repetition_penalty={penalty}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "endpoint.log"
        stack = LocalStack(config, Path(tmp) / "qdrant", ports, gguf, log_path=log)
        stack.start_endpoint()
        try:
            client = runtime_client(ports, read_timeout=120)
            # Same context size and thread count as the endpoint's engine.
            llama = LlamaEngine(gguf, n_ctx=config.llm.max_total_tokens).llama
            names = config.names

            def endpoint_side(prompts: list[str]) -> Tally:
                return run_endpoint(
                    client, engine, names.endpoint, names.llm_component, prompts, penalty
                )

            # Warm both: first calls pay for allocations and connection set-up.
            run_direct(llama, batch[:1], penalty)
            endpoint_side(batch[:1])

            direct, endpoint = Tally(), Tally()
            same = 0
            for round_ in range(ROUNDS):
                round_direct, round_endpoint = Tally(), Tally()
                for index, prompt in enumerate(batch):
                    # Side by side, prompt by prompt, in alternating order: the machine's
                    # speed drifts, and a drift must hit both sides alike.
                    first_direct = (round_ + index) % 2 == 0
                    for side in ("direct", "endpoint") if first_direct else ("endpoint", "direct"):
                        if side == "direct":
                            part, total = run_direct(llama, [prompt], penalty), round_direct
                        else:
                            part, total = endpoint_side([prompt]), round_endpoint
                        total.tokens += part.tokens
                        total.seconds += part.seconds
                        total.texts = [*(total.texts or []), *(part.texts or [])]
                for total, part in ((direct, round_direct), (endpoint, round_endpoint)):
                    total.tokens += part.tokens
                    total.seconds += part.seconds
                same += sum(
                    a == b
                    for a, b in zip(
                        round_direct.texts or [], round_endpoint.texts or [], strict=True
                    )
                )
                print(
                    f"  round {round_ + 1}: direct {round_direct.per_second:6.1f} tok/s, "
                    f"endpoint {round_endpoint.per_second:6.1f} tok/s"
                )
        finally:
            stack.stop()

    overhead = direct.per_second / endpoint.per_second - 1 if endpoint.per_second else float("inf")
    print(
        f"llama-cpp-python direct : {direct.tokens} tokens in {direct.seconds:.2f} s = "
        f"{direct.per_second:.1f} tok/s"
    )
    print(
        f"local endpoint ({engine:4}) : {endpoint.tokens} tokens in {endpoint.seconds:.2f} s = "
        f"{endpoint.per_second:.1f} tok/s"
    )
    print(f"identical generations   : {same}/{len(batch) * ROUNDS}")
    verdict = "within" if overhead <= TARGET_OVERHEAD else "ABOVE"
    print(
        f"endpoint overhead ({engine}) : {overhead * 100:+.1f} % ({verdict} the "
        f"{TARGET_OVERHEAD * 100:.0f} % target)"
    )


def main() -> None:
    sys.path.insert(0, str(REPO))
    from engines import for_each_engine

    for_each_engine(measure)


if __name__ == "__main__":
    main()
