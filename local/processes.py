"""Start, watch and stop the two local processes: the SageMaker stand-in and the RAG API.

The API runs the Lambda's own app (`rag_app.main:create_app`) under uvicorn, configured only
through environment variables, exactly as on Lambda; boto3 reaches the local endpoint through
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

import httpx

from local.settings import DUMMY_CREDENTIALS, LAMBDA_SRC, REPO_ROOT, Ports
from model_config import DeploymentConfig
from model_config.runtime_env import rag_environment

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
# Variables from the user's shell that would point the children at real AWS or other settings.
_INHERITED_PREFIXES = ("AWS_", "RAG_")
# What asks local mode to stop: Ctrl-C, `kill` or a supervisor, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A no-op handler: unlike SIG_IGN, exec resets it, so children still get the default."""


def ignore_stop_signals() -> None:
    """From now on this process is stopping: a further stop signal asks for what is under way."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _ignore)


def interrupt_on_termination() -> None:
    """Make the first SIGTERM, SIGHUP or SIGINT act like Ctrl-C, and ignore the ones after it.

    One stop often brings several signals: `make` passes a SIGTERM sent to the whole group on to
    its child, and people press Ctrl-C twice. A second KeyboardInterrupt would cut short the
    clean-up the first one started. SIGINT is caught even where a background shell ignores it;
    SIGHUP stays ignored under `nohup`.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        ignore_stop_signals()
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS:
        if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, interrupt)


@contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Ignore stop signals while children are being stopped, whatever the handlers were."""
    # Handlers can only change, and KeyboardInterrupt only lands, on the main thread.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    ignore_stop_signals()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; default is closest.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@functools.cache
def _lifeline() -> int:
    """The read end of a pipe children watch (local.lifeline): EOF once this process is gone.

    This process keeps the only write end open until it exits; os.pipe() makes both ends
    close-on-exec, so no child inherits the write end and holds the line open.
    """
    read_end, _write_end = os.pipe()
    return read_end


class StartupError(RuntimeError):
    """A process died or never became healthy; its own output says why."""


def api_environment(
    config: DeploymentConfig, qdrant_path: Path, ports: Ports, overrides: dict[str, str] | None
) -> dict[str, str]:
    """The API's settings: the config's RAG_* variables plus where local mode keeps things."""
    env = rag_environment(config)
    # No cross-encoder runs locally, so the app must not call a reranker component.
    env.pop("RAG_RERANKER_COMPONENT", None)
    env["RAG_QDRANT_PATH"] = str(qdrant_path)
    env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = ports.endpoint_url
    env.update(DUMMY_CREDENTIALS)
    env.update(overrides or {})
    return env


def _child_environment(extra: dict[str, str], pythonpath: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Service:
    """One child process (`python -m module args`) and the URL that answers 200 once ready.

    No URL: the process is ready once its `ready_file` exists (the batch runner serves no
    HTTP, and writes the file once its signal handlers are in place).
    """

    name: str
    module: str
    args: list[str]
    env: dict[str, str]
    health_url: str | None
    ready_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        # Through local.lifeline, which stops the child if this process dies without doing so.
        # `python -m` puts the working directory (REPO_ROOT) first on sys.path, whatever
        # PYTHONPATH says, so `local` is found in the API's process too.
        lifeline = ["-m", "local.lifeline", str(_lifeline())]
        return [sys.executable, *lifeline, self.module, *self.args]

    def start(self, output: IO[bytes] | None) -> None:
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        # Children stay in this process group: Ctrl-C, a closed terminal, and a supervisor's
        # SIGTERM or SIGKILL to the group reach them directly, even if this process cannot pass
        # them on. The command is this interpreter with fixed arguments, never user input.
        self.process = subprocess.Popen(  # noqa: S603
            self.command,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            pass_fds=(_lifeline(),),
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        if self.health_url is None:
            # A process still importing when a Ctrl-C arrives dies with a traceback; one that
            # wrote its ready file handles the signal.
            return self.running and (self.ready_file is None or self.ready_file.exists())
        try:
            return httpx.get(self.health_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise StartupError(f"the {self.name} exited during start-up (exit code {code})")
            if self.healthy():
                return
            time.sleep(0.25)
        raise StartupError(f"the {self.name} was not healthy after {timeout_s:.0f} s")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; returns once the child is reaped."""
        process, self.process = self.process, None
        if process is None:
            return
        with _stop_signals_held():
            if process.poll() is not None:
                return
            # SIGTERM, not SIGINT: after a Ctrl-C to the group, a second SIGINT would make
            # uvicorn drop requests in flight. A child still loading models dies at once.
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class LocalStack:
    """The endpoint and the API for one config; a context manager that always cleans up."""

    config: DeploymentConfig
    qdrant_path: Path
    ports: Ports = field(default_factory=Ports)
    gguf: Path | None = None
    # None: children write to this terminal; a file: they write there (tests, benchmarks).
    log_path: Path | None = None
    # The API's own log (JSON traces) when it should not share the endpoint's destination.
    api_log_path: Path | None = None
    api_overrides: dict[str, str] | None = None
    # The Batch API's files and batches (default: beside the Qdrant folder).
    batch_path: Path | None = None
    # What the children load with --model: a config name, or the path of a config file of
    # one's own (default: the config's name, a shipped config).
    model: str | None = None
    endpoint: Service = field(init=False)
    api: Service = field(init=False)
    batch_runner: Service = field(init=False)
    _logs: dict[Path, IO[bytes]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        ports = self.ports
        model = self.model or self.config.name
        endpoint_args = [
            "--model", model, "--host", ports.host, "--port", str(ports.endpoint),
        ]  # fmt: skip
        if self.gguf is not None:
            endpoint_args += ["--gguf", str(self.gguf)]
        self.endpoint = Service(
            "local endpoint",
            "local.endpoint",
            endpoint_args,
            _child_environment({}, [REPO_ROOT]),
            f"{ports.endpoint_url}/ping",
        )
        if self.batch_path is None:
            self.batch_path = self.qdrant_path.parent / "batch"
        overrides = {"RAG_BATCH_PATH": str(self.batch_path), **(self.api_overrides or {})}
        api_env = api_environment(self.config, self.qdrant_path, ports, overrides)
        api_args = [
            "rag_app.main:create_app", "--factory",
            "--host", ports.host, "--port", str(ports.api), "--log-level", "warning",
        ]  # fmt: skip
        self.api = Service(
            "RAG API",
            "uvicorn",
            api_args,
            # Only lambda_src on the path, as in the Lambda package.
            _child_environment(api_env, [LAMBDA_SRC]),
            f"{ports.api_url}/health",
        )
        self.batch_runner = Service(
            "batch runner",
            "local.batch_runner",
            [
                "--model",
                model,
                "--store",
                str(self.batch_path),
                "--api-url",
                ports.api_url,
                "--ready-file",
                str(self.batch_path / "runner.ready"),
            ],
            _child_environment({}, [REPO_ROOT, LAMBDA_SRC]),
            None,
            ready_file=self.batch_path / "runner.ready",
        )

    def _output(self, path: Path | None) -> IO[bytes] | None:
        if path is None:
            return None
        if path not in self._logs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._logs[path] = path.open("ab")
        return self._logs[path]

    def start_endpoint(self) -> None:
        self.endpoint.start(self._output(self.log_path))
        self.endpoint.wait_healthy()

    def start_api(self) -> None:
        self.api.start(self._output(self.api_log_path or self.log_path))
        self.api.wait_healthy()

    def start_batch_runner(self) -> None:
        self.batch_runner.start(self._output(self.api_log_path or self.log_path))
        self.batch_runner.wait_healthy()

    def start(self) -> None:
        """The processes in order, endpoint first; stops whatever started if one fails."""
        try:
            self.start_endpoint()
            self.start_api()
            self.start_batch_runner()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """The batch runner first (it calls the API; its lines in flight finish), then the API
        (it holds the Qdrant folder and calls the endpoint), then the endpoint."""
        with _stop_signals_held():
            self.batch_runner.stop()
            self.api.stop()
            self.endpoint.stop()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def exited(self) -> Service | None:
        """A service that was started and has died since, if any."""
        for service in (self.endpoint, self.api, self.batch_runner):
            if service.process is not None and service.process.poll() is not None:
                return service
        return None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
