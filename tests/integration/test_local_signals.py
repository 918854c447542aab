"""Stopping `make local` and `make demo` by signal, as terminals, `kill`, supervisors and CI do.

Each run starts make in a process group of its own, signals it at one moment of its life, and
checks that no process of the group or descended from it is left, that the ports are free
for the next run, and that nothing printed a traceback. `make` is part of the group on
purpose: it passes a SIGTERM sent to the group on to its child, a second signal the launcher
must survive.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from local.settings import REPO_ROOT
from model_config import DeploymentConfig
from tests.integration.conftest import MODEL, STACK_GROUP, command_environment, free_port

MAKE = shutil.which("make")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group(STACK_GROUP),
    pytest.mark.skipif(MAKE is None, reason="`make` is local mode's entry point"),
]

READY = "Press Ctrl-C to stop."
START_TIMEOUT_S = 300.0
# The launcher gives each child 10 s to stop before killing it; make then reaps the launcher.
STOP_TIMEOUT_S = 60.0
# GNU make's own race: when its child dies of the group's signal at the very moment make is
# waiting for it (the launcher, still starting, has no handler yet), the main loop reaps the
# child and make's signal handler then finds none to wait for, and make exits 2 with this.
MAKE_WAIT_RACE = "wait: No child processes"
NOT_ON_STOP = ("Traceback", "Aborted!", "Exception in")


class Moment(NamedTuple):
    """When to signal: on the first output line containing `marker` (None: at once)."""

    marker: str | None
    delay_s: float = 0.0
    request_in_flight: bool = False


# Most moments come while the endpoint loads its models, which is cheap to reach; the last
# three wait for it to be up, which is most of a run's time.
MOMENTS = {
    "at-once": Moment(None),
    "launcher-started": Moment("[local] config"),
    "endpoint-spawned": Moment("Starting the local endpoint on"),
    "endpoint-importing": Moment("Starting the local endpoint on", delay_s=0.5),
    "llm-loading": Moment("Loading LLM"),
    "embedder-loading": Moment("Loading embedding model"),
    "embedder-loading-later": Moment("Loading embedding model", delay_s=2.0),
    "api-starting": Moment("Starting the RAG API on", delay_s=0.5),
    "ready": Moment(READY),
    "ready-request-in-flight": Moment(READY, request_in_flight=True),
}


@dataclass
class MakeRun:
    """`make TARGET` in a new process group, its output and every process seen under it."""

    process: subprocess.Popen[str]
    api_port: int
    endpoint_port: int
    output: list[str] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, marker: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"make exited before {marker!r}:\n{self.text}")
            self.output.append(line)
            if marker in line:
                return
        pytest.fail(f"no {marker!r} within {timeout_s:.0f} s:\n{self.text}")

    def record_processes(self) -> None:
        """Remember the group's processes and make's descendants, to look for them later."""
        self.seen.update(_processes_under(self.process.pid))

    def signal_group(self, sig: signal.Signals) -> None:
        self.record_processes()
        os.killpg(self.process.pid, sig)

    def finish(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """make's exit code, once it has exited; all its output is read by then."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            # What was printed since, and what still runs, say where the stop got stuck.
            with contextlib.suppress(queue.Empty):
                while (line := self._lines.get(timeout=2)) is not None:
                    self.output.append(line)
            running = _processes_under(self.process.pid)
            pytest.fail(
                f"make still running {timeout_s:.0f} s after the signal:\n{self.text}\n"
                f"still running: {running}"
            )
        # A child left behind keeps the output pipe open: then stop reading after a while.
        with contextlib.suppress(queue.Empty):
            while (line := self._lines.get(timeout=10)) is not None:
                self.output.append(line)
        return code

    def assert_nothing_left(self, within_s: float = 10.0) -> None:
        """No process of the group or seen under make, and both ports free, within `within_s`.

        The launcher reaps its children before it exits; the grace is for a child it started
        just as the signal came and never knew of, which stops itself once the launcher is gone.
        """
        deadline = time.monotonic() + within_s
        while True:
            left = _still_running(self.seen) | _processes_in_group(self.process.pid)
            busy = [port for port in (self.api_port, self.endpoint_port) if not _port_free(port)]
            if not left and not busy:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        pytest.fail(f"left behind: processes {left}, ports {busy}\n{self.text}")

    def assert_quiet(self) -> None:
        """Nothing in the output says a process crashed on the way down."""
        for bad in NOT_ON_STOP:
            assert bad not in self.text, self.text

    def kill(self) -> None:
        """After a failed check: take the whole group down so later tests can run."""
        targets = {self.process.pid, *self.seen, *_processes_under(self.process.pid)}
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()


def _ps() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, pgid, command line) of every process; `ps` reads the same on macOS."""
    listing = subprocess.run(
        ["ps", "-A", "-ww", "-o", "pid=,ppid=,pgid=,args="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in listing.splitlines():
        pid, ppid, pgid, *args = line.split(None, 3)
        rows.append((int(pid), int(ppid), int(pgid), args[0] if args else ""))
    return rows


def _processes_under(root: int) -> dict[int, str]:
    """Processes in `root`'s group or descended from it (a child in a session of its own)."""
    rows = _ps()
    found = {pid: args for pid, _, pgid, args in rows if pgid == root or pid == root}
    grew = True
    while grew:
        grew = False
        for pid, ppid, _, args in rows:
            if ppid in found and pid not in found:
                found[pid] = args
                grew = True
    return found


def _processes_in_group(pgid: int) -> set[int]:
    return {pid for pid, _, group, _ in _ps() if group == pgid}


def _still_running(seen: dict[int, str]) -> set[int]:
    """Processes seen earlier that still run: same pid and command line (pids get reused)."""
    return {pid for pid, _, _, args in _ps() if seen.get(pid) == args}


def _port_free(port: int) -> bool:
    """Whether the next `make local` could listen here (it binds with SO_REUSEADDR too)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_copy: Path) -> Path:
    """A seeded store of this module's own, so a failure here cannot lock another test's."""
    target = tmp_path_factory.mktemp("signals-store") / "store"
    shutil.copytree(store_copy, target)
    return target


StartMake = Callable[[str], "MakeRun"]


@pytest.fixture
def start_make(store: Path) -> Iterator[StartMake]:
    """Start `make local` or `make demo` as a user would, on free ports; clean up after."""
    runs: list[MakeRun] = []

    def start(target: str) -> MakeRun:
        api_port, endpoint_port = free_port(), free_port()
        env = command_environment()
        env |= {
            "LOCAL_QDRANT_PATH": str(store),
            "LOCAL_API_PORT": str(api_port),
            "LOCAL_ENDPOINT_PORT": str(endpoint_port),
        }
        assert MAKE is not None
        # `-o install`: the running venv is used as is (PY), never re-created by a test.
        command = [MAKE, "-o", "install", target, f"PY={sys.executable}", f"MODEL={MODEL}"]
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        run = MakeRun(process, api_port, endpoint_port)
        runs.append(run)
        return run

    yield start
    for run in runs:
        left = _still_running(run.seen) | _processes_in_group(run.process.pid)
        if run.process.poll() is None or left:
            run.kill()


def _ask_in_background(api_port: int) -> threading.Thread:
    """A RAG request that is still generating when the signal comes; its answer is moot."""

    def ask() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"http://127.0.0.1:{api_port}/rag",
                json={"query": "What port does the tidewell dashboard use?", "max_new_tokens": 16},
                timeout=60,
            )

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_sigterm_to_the_group_stops_make_local_cleanly(
    start_make: StartMake, config: DeploymentConfig, moment: Moment
) -> None:
    run = start_make("local")
    request = None
    if moment.marker is not None:
        run.wait_for(moment.marker)
    if moment.request_in_flight:
        request = _ask_in_background(run.api_port)
        # The query is embedded first: the LLM generates once this call is logged.
        run.wait_for(f"{config.names.embedding_component} -> 200", timeout_s=60)
    time.sleep(moment.delay_s)
    run.signal_group(signal.SIGTERM)
    # make dies of the signal it got, after its child (the launcher) has exited; signalled
    # at once, the launcher may die with make and make lose its race (MAKE_WAIT_RACE).
    code = run.finish()
    make_lost_its_race = moment.marker is None and code == 2 and MAKE_WAIT_RACE in run.text
    assert code == -signal.SIGTERM or make_lost_its_race, run.text
    run.assert_nothing_left()
    run.assert_quiet()
    if moment.marker is not None:
        assert "[local] stopping" in run.text
    if request is not None:
        request.join(timeout=60)
        assert not request.is_alive()


def test_ctrl_c_in_a_terminal_stops_make_local_cleanly(start_make: StartMake) -> None:
    # A terminal sends SIGINT to the whole foreground group, children included.
    run = start_make("local")
    run.wait_for(READY)
    run.signal_group(signal.SIGINT)
    assert run.finish() == -signal.SIGINT, run.text
    run.assert_nothing_left()
    run.assert_quiet()
    assert "[local] stopping" in run.text


def test_sigterm_to_make_alone_stops_make_local_cleanly(start_make: StartMake) -> None:
    run = start_make("local")
    run.wait_for("Loading LLM")
    run.record_processes()
    os.kill(run.process.pid, signal.SIGTERM)
    assert run.finish() == -signal.SIGTERM, run.text
    run.assert_nothing_left()
    run.assert_quiet()
    assert "[local] stopping" in run.text


def test_children_stop_when_the_launcher_is_killed_hard(start_make: StartMake) -> None:
    # SIGKILL leaves the launcher no chance to stop its children: they must notice it is gone.
    run = start_make("local")
    run.wait_for("Loading embedding model")
    run.record_processes()
    launcher_command = [sys.executable, "-m", "local.run"]
    launchers = [pid for pid, args in run.seen.items() if args.split()[:3] == launcher_command]
    assert len(launchers) == 1, run.seen
    os.kill(launchers[0], signal.SIGKILL)
    run.finish()
    run.assert_nothing_left(within_s=30)


def test_sigterm_to_the_group_while_make_demo_waits_for_its_answer(start_make: StartMake) -> None:
    run = start_make("demo")
    run.wait_for("(streamed)")  # the demo has asked and waits for its answer
    run.signal_group(signal.SIGTERM)
    assert run.finish() == -signal.SIGTERM, run.text
    run.assert_nothing_left()
    run.assert_quiet()
    assert "Stopping the API and the local endpoint: done" in run.text
