"""`make demo`: ingest the sample corpus if needed, start everything, ask two questions, stop.

Both go through the OpenAI-compatible route with the official `openai` SDK: the first answer
streams in token by token; the second question names its author, to show self-query's filter.

`python -m local.demo [--model NAME] [--question TEXT]`
"""

from __future__ import annotations

import sys
from typing import Any

import openai

from local.console import fail, say, step
from local.corpus import CorpusError
from local.ingest import load_sample_corpus_if_empty
from local.processes import LocalStack, ignore_stop_signals, interrupt_on_termination
from local.run import EXAMPLE_QUERY, parser, prepare, start
from local.settings import LOG_DIR, Ports, SetupError

ASK_TIMEOUT_S = 120.0
# Names the author of the moth census (in the sample corpus), so self-query can filter on her.
AUTHOR_QUESTION = "How many lantern moths did Ilse Marrow count on Skerry Holm in 2023?"
# The filter is the point of this step: a few tokens show the answer starts, and keep it quick.
AUTHOR_ANSWER_TOKENS = 16
# Why self-query left the search open, by the fallback names the retrieval report uses.
FALLBACK_REASONS = {
    "self_query_timeout": "the LLM did not answer in time",
    "self_query_failed": "the LLM call failed",
    "self_query_authors_unavailable": "the store's author names could not be read",
    "self_query_unknown_author": "no author in the store has that name",
    "self_query_not_in_question": "the question does not name that author",
    "self_query_no_hits": "that author has no matching chunk",
}


def stream_answer(client: openai.OpenAI, model: str, question: str) -> list[dict[str, Any]]:
    """Print the answer as its tokens arrive; returns the sources of the last chunk."""
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], stream=True
    )
    sources: list[dict[str, Any]] = []
    print("\nAnswer:\n  ", end="", flush=True)
    started = False
    for chunk in stream:
        if not chunk.choices:
            continue
        text = chunk.choices[0].delta.content or ""
        if not started:
            text, started = text.lstrip(), bool(text.strip())
        print(text.replace("\n", "\n  "), end="", flush=True)
        if chunk.choices[0].finish_reason is not None:
            sources = (chunk.model_extra or {}).get("sources", [])
    print()
    return sources


def show_sources(sources: list[dict[str, Any]]) -> None:
    """Where the answer's context came from."""
    print("\nSources:")
    for source in sources:
        where = source.get("link") or source.get("platform") or "-"
        print(
            f"  {source.get('score', 0):.3f}  {source.get('collection')}  {where}"
            f"  ({source.get('author_full_name') or 'unknown author'})"
        )
    print()


def ask_with_self_query(client: openai.OpenAI, model: str, question: str) -> dict[str, Any]:
    """Ask with self-query on and the retrieval report requested; returns the extra fields."""
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=AUTHOR_ANSWER_TOKENS,
        # This API's `rag` extension: self-query for this request, whatever the config says.
        extra_body={"rag": {"self_query": True, "return_retrieved": True}},
    )
    answer = (completion.choices[0].message.content or "").strip()
    print(f"\nAnswer (at most {AUTHOR_ANSWER_TOKENS} tokens):\n  {answer}")
    return completion.model_extra or {}


def self_query_line(report: dict[str, Any]) -> str:
    """The author the LLM read, and whether the search was filtered on it or why not."""
    # The step's latency is there only if self-query ran, even when it failed.
    took = report.get("latency_ms", {}).get("self_query")
    if took is None:
        return "Self-query did not run: the report has no self_query step."
    retrieval = report["retrieval"]
    author = retrieval["author"]
    head = f"Self-query, {took:.0f} ms:"
    if author is not None and author["filtered"]:
        return (
            f'{head} the LLM read the author "{author["name"]}" from the question; '
            "the search was filtered on it."
        )
    codes = [code for code in retrieval["fallbacks"] if code.startswith("self_query_")]
    if author is None and not codes:
        return f"{head} the LLM named no author; the search was left open."
    read = f'the LLM read "{author["name"]}", but ' if author is not None else ""
    why = "; ".join(FALLBACK_REASONS.get(code, code) for code in codes) or "no reason recorded"
    return f"{head} fell back ({', '.join(codes)}): {read}{why}. The search was left open."


def main(argv: list[str] | None = None) -> None:
    cli = parser("python -m local.demo", __doc__)
    cli.add_argument("--question", default=EXAMPLE_QUERY)
    args = cli.parse_args(argv)
    interrupt_on_termination()
    config, gguf, qdrant_path = prepare(args)
    collections = config.retrieval.collections
    try:
        load_sample_corpus_if_empty(qdrant_path, collections)
    except (CorpusError, SetupError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted while loading the sample corpus; run the demo again to finish", 130)
    ports = Ports(endpoint=args.endpoint_port, api=args.port)
    # The API logs a JSON trace per request: useful, but it would bury the demo's answer.
    api_log = LOG_DIR / "demo-api.log"
    stack = LocalStack(config, qdrant_path, ports, gguf, api_log_path=api_log, model=args.model)
    say(f"the API's log goes to {api_log}")
    try:
        start(stack)
        say(f"POST {ports.api_url}/v1/chat/completions (streamed)  {args.question!r}")
        # Local mode has no API key; the SDK wants one all the same.
        with openai.OpenAI(
            base_url=f"{ports.api_url}/v1", api_key="local", max_retries=0, timeout=ASK_TIMEOUT_S
        ) as client:
            sources = stream_answer(client, config.llm.model_id, args.question)
            show_sources(sources)
            say(
                f"POST {ports.api_url}/v1/chat/completions (rag: self_query, return_retrieved)"
                f"  {AUTHOR_QUESTION!r}"
            )
            extra = ask_with_self_query(client, config.llm.model_id, AUTHOR_QUESTION)
        if "retrieval" not in extra:
            fail("the API sent no retrieval report (rag.return_retrieved was asked for)")
        print(f"\n{self_query_line(extra)}")
        show_sources(extra.get("sources", []))
        if config.prompt_format == "template" and "<|im_start|>" not in (
            config.prompt_template or ""
        ):
            say(
                f"tip: {config.name}'s prompt template is not the local model's chat format; "
                "`make demo MODEL=smollm2-1.7b` uses SmolLM2's own format and answers better"
            )
    except openai.APIStatusError as err:
        print(file=sys.stderr)
        fail(f"the API answered {err.status_code}: {err.message}")
    except openai.APIConnectionError as err:
        fail(f"could not reach the API: {err}")
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    finally:
        # Stopping now: a second Ctrl-C or SIGTERM must not cut the clean-up short.
        ignore_stop_signals()
        with step("Stopping the API and the local endpoint"):
            stack.stop()


if __name__ == "__main__":
    main()
