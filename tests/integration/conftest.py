"""Local stacks shared by the test session: a Qdrant store seeded by the ingest command, the
local SageMaker endpoint with real models, and the RAG API, on free ports. One stack per
config, started on first use: the default config serves on vLLM, smollm2-1.7b on TGI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import openai
import pytest
from botocore.config import Config

from local.llm import SEED_ENV, THREADS_ENV
from local.processes import LocalStack, StartupError
from local.settings import DUMMY_CREDENTIALS, REPO_ROOT, Ports
from model_config import DEFAULT_MODEL, DeploymentConfig, load_config

# E2E tests share the stacks; keep them on one xdist worker (`--dist loadgroup`).
STACK_GROUP = "local_stack"
MODEL = os.environ.get("LOCAL_TEST_MODEL", DEFAULT_MODEL)
# A shipped config per serving engine, for tests that run against both.
ENGINE_MODELS = {"vllm": "twin-llama-3.1-8b", "tgi": "smollm2-1.7b"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Settings of the developer's shell that would change what a command under test does; the
# local model's thread count and seed stay, so the whole suite runs with them.
KEPT_LOCAL_SETTINGS = (THREADS_ENV, SEED_ENV)
# Two test workers share the cores: a llama.cpp on every core would spin against the other
# worker (decode went from 18 to 70-140 ms/token on two busy cores). One thread unless set.
os.environ.setdefault(THREADS_ENV, "1")


def command_environment() -> dict[str, str]:
    """This process's environment without AWS, app and local-mode settings (but the model's)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "RAG_", "LOCAL_")) or name in KEPT_LOCAL_SETTINGS
    }


def run_module(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the repository root, as a user would run it."""
    env = command_environment()
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def openai_client(api_url: str, timeout: float = 120) -> openai.OpenAI:
    """The openai SDK against a local API: it has no key (the SDK insists on one), and
    retries are off so errors surface as they are."""
    return openai.OpenAI(base_url=f"{api_url}/v1", api_key="local", max_retries=0, timeout=timeout)


@contextmanager
def sagemaker_env(endpoint_url: str) -> Iterator[None]:
    """The environment the RAG app gets: dummy credentials and the endpoint URL variable."""
    values = {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Stack:
    """What tests need to reach a running stack."""

    config: DeploymentConfig
    local: LocalStack
    log_path: Path

    @property
    def ports(self) -> Ports:
        return self.local.ports

    @property
    def engine(self) -> str:
        return self.config.llm.engine

    @property
    def endpoint(self) -> str:
        return self.config.names.endpoint

    @property
    def llm(self) -> str:
        return self.config.names.llm_component

    @property
    def embedding(self) -> str:
        return self.config.names.embedding_component

    def invocations(self) -> list[dict[str, Any]]:
        """The local endpoint's record of recent invocations, oldest first."""
        response = httpx.get(f"{self.ports.endpoint_url}/_local/invocations", timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def runtime_client(self) -> Any:
        """boto3's sagemaker-runtime client, configured the way the RAG app's is (by env)."""
        with sagemaker_env(self.ports.endpoint_url):
            session = boto3.session.Session()
            return session.client(
                "sagemaker-runtime", config=Config(retries={"max_attempts": 1}, read_timeout=120)
            )

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class StackPool:
    """Starts one stack per config on first use, each on its own copy of the seeded store."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.seeded_store = seeded_store
        self.stacks: dict[str, Stack] = {}

    def get(self, model: str) -> Stack:
        """The stack of `model`: a shipped config's name, or the path of a YAML config."""
        if model not in self.stacks:
            self.stacks[model] = self._start(load_config(model), model)
        return self.stacks[model]

    def _start(self, config: DeploymentConfig, model: str) -> Stack:
        folder = self.tmp_path_factory.mktemp(f"stack-{config.resource_prefix}")
        # Embedded Qdrant lets one process hold a folder: every API gets its own copy.
        store = folder / "store"
        shutil.copytree(self.seeded_store, store)
        log_path = folder / "stack.log"
        ports = Ports(endpoint=free_port(), api=free_port())
        local = LocalStack(config, store, ports, log_path=log_path, model=model)
        try:
            local.start()
        except StartupError as err:
            tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
            pytest.fail(f"local stack for {config.name} did not start: {err}\n{tail}")
        return Stack(config, local, log_path)

    def stop_all(self) -> None:
        for stack in self.stacks.values():
            stack.local.stop()


@pytest.fixture(scope="session")
def config() -> DeploymentConfig:
    return load_config(MODEL)


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory, config: DeploymentConfig) -> Path:
    """A store filled by `python -m local.ingest`, the command users run; never opened after."""
    path = tmp_path_factory.mktemp("qdrant") / "store"
    result = run_module("local.ingest", "--model", config.name, "--qdrant-path", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return path


@pytest.fixture(scope="session")
def store_copy(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Path:
    """A seeded store of its own, for a test that opens it or runs a command on it."""
    target = tmp_path_factory.mktemp("qdrant-copy") / "store"
    shutil.copytree(seeded_store, target)
    return target


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[StackPool]:
    pool = StackPool(tmp_path_factory, seeded_store)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def stack(stacks: StackPool, config: DeploymentConfig) -> Stack:
    """The stack of the default config (or $LOCAL_TEST_MODEL)."""
    return stacks.get(config.name)


@pytest.fixture(scope="session", params=sorted(ENGINE_MODELS))
def engine_stack(request: pytest.FixtureRequest, stacks: StackPool) -> Stack:
    """The stack of a config per serving engine: tests using it run once for each."""
    return stacks.get(ENGINE_MODELS[request.param])


@pytest.fixture(scope="session")
def runtime_client(stack: Stack) -> Any:
    return stack.runtime_client()


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.ports.api_url, timeout=120) as client:
        yield client


@pytest.fixture
def engine_api(engine_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=engine_stack.ports.api_url, timeout=120) as client:
        yield client
