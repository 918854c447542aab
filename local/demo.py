"""`make demo`: ingest the sample corpus if needed, start everything, ask one question, stop.

`python -m local.demo [--model NAME] [--question TEXT]`
"""

from __future__ import annotations

from typing import Any

import httpx

from local.console import fail, say, step
from local.corpus import CorpusError
from local.ingest import ingest
from local.processes import LocalStack, interrupt_on_termination
from local.run import EXAMPLE_QUERY, parser, prepare, start
from local.settings import LOG_DIR, SAMPLE_CORPUS, Ports, SetupError
from local.store import count_points

ASK_TIMEOUT_S = 120.0


def show(answer: dict[str, Any]) -> None:
    """The answer and where its context came from."""
    print("\nAnswer:\n  " + str(answer.get("answer", "")).strip().replace("\n", "\n  "))
    print("\nSources:")
    for source in answer.get("sources", []):
        where = source.get("link") or source.get("platform") or "-"
        print(
            f"  {source.get('score', 0):.3f}  {source.get('collection')}  {where}"
            f"  ({source.get('author_full_name') or 'unknown author'})"
        )
    print()


def main(argv: list[str] | None = None) -> None:
    cli = parser("python -m local.demo", __doc__)
    cli.add_argument("--question", default=EXAMPLE_QUERY)
    args = cli.parse_args(argv)
    interrupt_on_termination()
    config, gguf, qdrant_path = prepare(args)
    collections = config.retrieval.collections
    try:
        if not any(count_points(qdrant_path, collections).values()):
            say(f"the Qdrant store at {qdrant_path} is empty: loading the sample corpus")
            ingest(SAMPLE_CORPUS, qdrant_path, collections)
    except (CorpusError, SetupError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted while loading the sample corpus; run the demo again to finish", 130)
    ports = Ports(endpoint=args.endpoint_port, api=args.port)
    # The API logs a JSON trace per request: useful, but it would bury the demo's answer.
    api_log = LOG_DIR / "demo-api.log"
    stack = LocalStack(config, qdrant_path, ports, gguf, api_log_path=api_log)
    say(f"the API's log goes to {api_log}")
    try:
        start(stack)
        say(f"POST {ports.api_url}/rag  {{'query': {args.question!r}}}")
        with step("Waiting for the answer"):
            response = httpx.post(
                f"{ports.api_url}/rag", json={"query": args.question}, timeout=ASK_TIMEOUT_S
            )
        if response.status_code != 200:
            fail(f"the API answered {response.status_code}: {response.text}")
        show(response.json())
        if "<|im_start|>" not in config.prompt_template:
            say(
                f"tip: {config.name}'s prompt template is not the local model's chat format; "
                "`make demo MODEL=smollm2-1.7b` uses SmolLM2's own format and answers better"
            )
    except httpx.HTTPError as err:
        fail(f"could not reach the API: {err}")
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    finally:
        with step("Stopping the API and the local endpoint"):
            stack.stop()


if __name__ == "__main__":
    main()
