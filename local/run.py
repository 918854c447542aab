"""`make local`: serve the endpoint and the RAG API on this machine until Ctrl-C or SIGTERM.

`python -m local.run [--model NAME] [--gguf PATH] [--qdrant-path DIR] [--port N]`
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from local.console import fail, say, step
from local.corpus import CorpusError
from local.endpoint import reranker_notice
from local.ingest import load_sample_corpus_if_empty
from local.processes import (
    LocalStack,
    StartupError,
    ignore_stop_signals,
    interrupt_on_termination,
)
from local.settings import Ports, SetupError, resolve_gguf, resolve_qdrant_path
from model_config import DEFAULT_MODEL, ConfigError, DeploymentConfig, load_config

EXAMPLE_QUERY = "How many lantern moths were counted on Skerry Holm in 2023?"
# Ports for `make local` and `make demo`, which pass no options.
API_PORT_ENV = "LOCAL_API_PORT"
ENDPOINT_PORT_ENV = "LOCAL_ENDPOINT_PORT"


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options `run` and `demo` share."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="model config name, or the path of a YAML config"
    )
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: $LOCAL_LLM_GGUF or SmolLM2)")
    parser.add_argument("--qdrant-path", help="embedded Qdrant folder (default: .local/qdrant)")
    # argparse converts a string default with `type`, so a bad variable is a usage error.
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get(API_PORT_ENV, Ports.api),
        help=f"API port (default: ${API_PORT_ENV} or {Ports.api})",
    )
    parser.add_argument(
        "--endpoint-port",
        type=int,
        default=os.environ.get(ENDPOINT_PORT_ENV, Ports.endpoint),
        help=f"local endpoint port (default: ${ENDPOINT_PORT_ENV} or {Ports.endpoint})",
    )
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
    if config.helper is not None:
        say(
            f"helper component {config.names.helper_component}: the same local LLM stands in "
            f"for {config.helper.model_id}, behind {config.helper.engine}'s contract"
        )
    return config, gguf, resolve_qdrant_path(args.qdrant_path)


def start(stack: LocalStack) -> None:
    """Both processes, with progress; a dead or slow process ends the command cleanly."""
    try:
        with step(f"Starting the local endpoint on {stack.ports.endpoint_url}"):
            stack.start_endpoint()
        with step(f"Starting the RAG API on {stack.ports.api_url}"):
            stack.start_api()
        with step("Starting the batch runner"):
            stack.start_batch_runner()
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


def openai_example(ports: Ports, model_id: str) -> str:
    """The question streamed through the `openai` SDK; unindented so it pastes into Python."""
    message = {"role": "user", "content": EXAMPLE_QUERY}
    return (
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{ports.api_url}/v1", api_key="local")\n'
        "stream = client.chat.completions.create(\n"
        f"    model={json.dumps(model_id)},\n"
        f"    messages=[{json.dumps(message)}],\n"
        "    stream=True,\n"
        ")\n"
        "for chunk in stream:\n"
        '    print(chunk.choices[0].delta.content or "", end="", flush=True)'
    )


def ready_message(ports: Ports, config: DeploymentConfig) -> str:
    return (
        f"Ready. Try:\n  {curl_example(ports)}\n"
        "or, with the openai SDK (any api_key: local mode has no auth):\n"
        f"{openai_example(ports, config.llm.model_id)}\n"
        "Press Ctrl-C to stop."
    )


def main(argv: list[str] | None = None) -> None:
    args = parser("python -m local.run", __doc__).parse_args(argv)
    interrupt_on_termination()
    stack: LocalStack | None = None
    try:
        config, gguf, qdrant_path = prepare(args)
        try:
            counts = load_sample_corpus_if_empty(qdrant_path, config.retrieval.collections)
        except (CorpusError, SetupError) as err:
            fail(str(err))
        say("Qdrant store " + ", ".join(f"{name}: {n} points" for name, n in counts.items()))
        ports = Ports(endpoint=args.endpoint_port, api=args.port)
        stack = LocalStack(config, qdrant_path, ports, gguf, model=args.model)
        start(stack)
        say(ready_message(ports, config))
        while (dead := stack.exited()) is None:
            time.sleep(0.5)
        # Stopping from here on: a signal now must not cut the clean-up short.
        ignore_stop_signals()
        say(f"the {dead.name} stopped unexpectedly; shutting down")
    except KeyboardInterrupt:
        # Ctrl-C, SIGTERM or SIGHUP: a requested stop, so exit code 0 and no traceback.
        say("stopping")
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    main()
