"""`make local`: serve the endpoint and the RAG API on this machine until Ctrl-C.

`python -m local.run [--model NAME] [--gguf PATH] [--qdrant-path DIR]`
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

from local.console import fail, say, step
from local.endpoint import reranker_notice
from local.processes import LocalStack, StartupError, interrupt_on_termination
from local.settings import Ports, SetupError, resolve_gguf, resolve_qdrant_path
from local.store import require_documents
from model_config import DEFAULT_MODEL, ConfigError, DeploymentConfig, load_config

EXAMPLE_QUERY = "How many lantern moths were counted on Skerry Holm in 2023?"


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options `run` and `demo` share."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model config name")
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: $LOCAL_LLM_GGUF or SmolLM2)")
    parser.add_argument("--qdrant-path", help="embedded Qdrant folder (default: .local/qdrant)")
    parser.add_argument("--port", type=int, default=Ports.api, help="API port")
    parser.add_argument("--endpoint-port", type=int, default=Ports.endpoint)
    return parser


def prepare(args: argparse.Namespace) -> tuple[DeploymentConfig, Path, Path]:
    """Config, model file and store folder, or a start-up message naming what is missing."""
    try:
        config = load_config(args.model)
        gguf = resolve_gguf(args.gguf)
    except (ConfigError, SetupError) as err:
        fail(str(err))
    say(
        f"config {config.name}: the local LLM {gguf.name} stands in for {config.llm.model_id} "
        "(a tiny model: expect plumbing, not wisdom)"
    )
    if notice := reranker_notice(config):
        say(notice)
    return config, gguf, resolve_qdrant_path(args.qdrant_path)


def start(stack: LocalStack) -> None:
    """Both processes, with progress; a dead or slow process ends the command cleanly."""
    try:
        with step(f"Starting the local endpoint on {stack.ports.endpoint_url}"):
            stack.start_endpoint()
        with step(f"Starting the RAG API on {stack.ports.api_url}"):
            stack.start_api()
    except StartupError as err:
        stack.stop()
        fail(f"{err}; see the messages above")
    except BaseException:
        # Ctrl-C while models load: leave no half-started process behind.
        stack.stop()
        raise


def curl_example(ports: Ports) -> str:
    body = json.dumps({"query": EXAMPLE_QUERY})
    return (
        f"curl -s -X POST {ports.api_url}/rag -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )


def main(argv: list[str] | None = None) -> None:
    args = parser("python -m local.run", __doc__).parse_args(argv)
    interrupt_on_termination()
    config, gguf, qdrant_path = prepare(args)
    try:
        counts = require_documents(qdrant_path, config.retrieval.collections)
    except SetupError as err:
        fail(str(err))
    say("Qdrant store " + ", ".join(f"{name}: {n} points" for name, n in counts.items()))
    ports = Ports(endpoint=args.endpoint_port, api=args.port)
    stack = LocalStack(config, qdrant_path, ports, gguf)
    try:
        start(stack)
        say(f"Ready. Try:\n  {curl_example(ports)}\nPress Ctrl-C to stop.")
        while (dead := stack.exited()) is None:
            time.sleep(0.5)
        say(f"the {dead.name} stopped unexpectedly; shutting down")
    except KeyboardInterrupt:
        say("stopping")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
