"""Start the local SageMaker endpoint: load the models a config names and serve them.

`python -m local.endpoint --model NAME [--gguf PATH] [--port 8080]`
"""

from __future__ import annotations

import argparse
import errno
import socket

import uvicorn

from local import tgi
from local.console import fail, say, set_prefix, step
from local.containers import Container, LlmContainer, TeiContainer
from local.embedder import Embedder
from local.llm import LlamaEngine
from local.server import Runtime, create_app
from local.settings import ENDPOINT_PORT, HOST, SetupError, resolve_gguf
from model_config import DEFAULT_MODEL, ConfigError, DeploymentConfig, load_config


def reranker_notice(config: DeploymentConfig) -> str | None:
    """What local mode says when the config asks for a reranker it cannot run."""
    if config.reranker is None:
        return None
    return (
        f"config {config.name} names reranker {config.reranker.model_id} "
        f"(component {config.names.reranker_component}); no cross-encoder ships offline, "
        "so local mode runs without a reranker and the API keeps the retrieval order"
    )


def build_runtime(
    config: DeploymentConfig, gguf: str | None = None, n_threads: int | None = None
) -> Runtime:
    """Load the LLM and the embedder (with progress) and map component names to them."""
    path = resolve_gguf(gguf)
    names = config.names
    limits = tgi.Limits(config.llm.max_input_tokens, config.llm.max_total_tokens)
    engine_name = {"vllm": "vLLM", "tgi": "TGI"}[config.llm.engine]
    with step(
        f"Loading LLM {path.name} behind {engine_name}'s contract (stands in for {config.llm.model_id})"
    ):
        # The context holds exactly what TGI would admit: input plus new tokens (of the
        # larger component, when the same model also stands in for the helper).
        n_ctx = max(c.max_total_tokens for c in config.gpu_components.values())
        engine = LlamaEngine(path, n_ctx=n_ctx, n_threads=n_threads)
    if engine.n_ctx_train < n_ctx:
        say(
            f"warning: {path.name} was trained on {engine.n_ctx_train} tokens of context, "
            f"less than the config's max_total_tokens ({n_ctx})"
        )
    with step("Loading embedding model all-MiniLM-L6-v2"):
        # One torch thread: the LLM owns the cores, and a query embedding is tiny.
        embedder = Embedder(num_threads=1)
    llm = LlmContainer(engine, limits, config.llm.engine, config.llm.model_id)
    components: dict[str, Container] = {
        names.llm_component: llm,
        names.embedding_component: TeiContainer(embedder),
    }
    if config.helper is not None and names.helper_component:
        # The same local model stands in for the helper, in the helper's contract and limits.
        helper = config.helper
        helper_limits = tgi.Limits(helper.max_input_tokens, helper.max_total_tokens)
        components[names.helper_component] = llm.beside(
            helper_limits, helper.engine, helper.model_id
        )
    return Runtime(endpoint=names.endpoint, components=components)


def _check_port_free(host: str, port: int) -> None:
    # Fail before the slow model loads rather than after them.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is already in use (another local endpoint running?)")
            raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.endpoint", description=__doc__)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="model config name, or the path of a YAML config"
    )
    parser.add_argument("--gguf", help="GGUF file to serve (default: $LOCAL_LLM_GGUF or SmolLM2)")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=ENDPOINT_PORT)
    parser.add_argument(
        "--threads",
        type=int,
        help="llama.cpp threads (default: $LOCAL_LLM_THREADS or every core)",
    )
    args = parser.parse_args(argv)
    set_prefix("endpoint")
    try:
        config = load_config(args.model)
        resolve_gguf(args.gguf)
    except (ConfigError, SetupError) as err:
        fail(str(err))
    _check_port_free(args.host, args.port)
    if notice := reranker_notice(config):
        say(notice)
    try:
        runtime = build_runtime(config, args.gguf, args.threads)
    except SetupError as err:
        fail(str(err))
    except KeyboardInterrupt:
        # Stopped while loading (Ctrl-C, or the launcher shutting down): nothing to clean up.
        fail("stopped while loading the models", code=130)
    say(
        f"SageMaker runtime stand-in on http://{args.host}:{args.port}: endpoint "
        f"{runtime.endpoint}, components {', '.join(runtime.components)}"
    )
    try:
        uvicorn.run(
            create_app(runtime),
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            # botocore keeps connections alive in its pool; do not drop them under it.
            timeout_keep_alive=75,
        )
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
