"""`make local` and `make demo` as users run them: real processes, real ports, real output."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from local.settings import REPO_ROOT
from tests.integration.conftest import STACK_GROUP, command_environment, free_port, run_module
from tests.integration.test_rag_e2e import MOTH_ARTICLE

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

# What the demo reports of self-query: the author it filtered on, a fallback and its reason,
# or no author named. Which one depends on what the tiny model wrote, so any will do.
SELF_QUERY_LINE = re.compile(
    r"^Self-query, \d+ ms: (?:"
    r'the LLM read the author "(?P<author>[^"]+)" from the question; the search was filtered on it\.'
    r"|fell back \(self_query_\w+(?:, self_query_\w+)*\): .+\. The search was left open\."
    r"|the LLM named no author; the search was left open\.)$",
    re.MULTILINE,
)
# A source as the demo prints it: score, collection, link or platform, (author).
SOURCE_LINE = re.compile(r"^  \d\.\d{3}  \S+  \S+  \((?P<author>[^)]+)\)$", re.MULTILINE)


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """Every output line of `process`, delivered by a reader thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], marker: str, timeout_s: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if marker in line:
            return seen
    pytest.fail(f"no {marker!r} within {timeout_s} s:\n{''.join(seen)}")


def test_run_serves_until_ctrl_c(store_copy: Path) -> None:
    api_port, endpoint_port = free_port(), free_port()
    env = command_environment()
    env["PYTHONPATH"] = str(REPO_ROOT)
    args = ["--qdrant-path", str(store_copy), "--port", str(api_port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "local.run", *args, "--endpoint-port", str(endpoint_port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _wait_for(_lines(process), "Press Ctrl-C to stop.", timeout_s=180)
        text = "".join(output)
        assert f"curl -s -X POST http://127.0.0.1:{api_port}/rag" in text
        assert f'OpenAI(base_url="http://127.0.0.1:{api_port}/v1", api_key=' in text
        assert "Loading LLM" in text
        response = httpx.post(
            f"http://127.0.0.1:{api_port}/rag",
            json={"query": "What port does the tidewell dashboard use?", "max_new_tokens": 8},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Both children went away with it.
    for port in (api_port, endpoint_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_demo_ingests_asks_and_stops(tmp_path: Path) -> None:
    store = tmp_path / "fresh-store"
    result = run_module(
        "local.demo",
        "--qdrant-path", str(store),
        "--port", str(free_port()),
        "--endpoint-port", str(free_port()),
        timeout=480,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "is empty: loading the sample corpus" in out
    streamed, self_query = out.split("(rag: self_query, return_retrieved)", 1)
    answer = streamed.split("Answer:", 1)[1].split("Sources:", 1)[0]
    assert answer.strip()
    assert MOTH_ARTICLE in streamed.split("Sources:", 1)[1]
    # The second question: the self-query line, then its sources (blank lines end blocks).
    found = SELF_QUERY_LINE.search(self_query)
    assert found, self_query
    sources = self_query[found.end() :].split("Sources:", 1)[1].split("\n\n", 1)[0]
    authors = [line["author"] for line in SOURCE_LINE.finditer(sources)]
    assert authors, sources
    if found["author"] is not None:
        assert set(authors) == {found["author"]}, self_query
    assert "Stopping the API and the local endpoint: done" in out
