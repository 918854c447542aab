"""Locust users of the load test. `capacity.loadtest` runs this file with `locust -f` in a
subprocess: Locust monkey-patches the standard library with gevent, which must never reach the
calling process (or pytest). Settings come from CAPACITY_* environment variables.

Each user sends one request after another (no think time), so N users hold N requests in
flight: buffered `POST /rag`, or a streamed `POST /v1/chat/completions` for a share of them.
Every request is appended to a JSON-lines file, timed here rather than by Locust so that time
to first token and error codes are exact.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any, ClassVar

from locust import HttpUser, constant, events, task
from locust.clients import ResponseContextManager


class Run:
    """This process's settings, set when the test starts."""

    records: ClassVar[Path | None] = None
    questions: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int | None] = None
    chat_share: ClassVar[float] = 0.0
    model: ClassVar[str] = ""
    timeout_s: ClassVar[float] = 120.0
    headers: ClassVar[dict[str, str]] = {}


@events.test_start.add_listener
def _configure(**_: Any) -> None:
    env = os.environ
    Run.records = Path(env["CAPACITY_RECORDS"])
    Run.questions = tuple(json.loads(env["CAPACITY_QUESTIONS"]))
    tokens = env.get("CAPACITY_MAX_NEW_TOKENS")
    Run.max_new_tokens = int(tokens) if tokens else None
    Run.chat_share = float(env.get("CAPACITY_CHAT_SHARE", "0"))
    Run.model = env.get("CAPACITY_MODEL", "")
    Run.timeout_s = float(env.get("CAPACITY_TIMEOUT_S", "120"))
    key = env.get("CAPACITY_API_KEY", "")
    # API Gateway checks x-api-key; OpenAI clients send the key as a bearer token.
    Run.headers = {"x-api-key": key, "Authorization": f"Bearer {key}"} if key else {}


def _record(route: str, started: float, status: int, ok: bool, **extra: object) -> None:
    """Append one request as a JSON line (one short write: greenlets never interleave it)."""
    if Run.records is None:
        return
    row = {
        "route": route,
        "start": started,
        "latency_s": time.time() - started,
        "status": status,
        "ok": ok,
        **extra,
    }
    with Run.records.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _error_code(response: ResponseContextManager) -> str:
    """The app's error code from its JSON error body, if any."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


class ApiUser(HttpUser):
    """One caller with one request in flight at a time."""

    wait_time = constant(0)

    @task
    def ask(self) -> None:
        question = random.choice(Run.questions)
        if Run.chat_share and random.random() < Run.chat_share:
            self._chat(question)
        else:
            self._rag(question)

    def _rag(self, question: str) -> None:
        body: dict[str, object] = {"query": question}
        if Run.max_new_tokens:
            body["max_new_tokens"] = Run.max_new_tokens
        started = time.time()
        with self.client.post(
            "/rag",
            json=body,
            headers=Run.headers,
            timeout=Run.timeout_s,
            catch_response=True,
            name="/rag",
        ) as response:
            ok = response.status_code == 200
            if ok:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
            _record("rag", started, response.status_code, ok, code=_error_code(response))

    def _chat(self, question: str) -> None:
        body: dict[str, object] = {
            "model": Run.model,
            "messages": [{"role": "user", "content": question}],
            "stream": True,
        }
        if Run.max_new_tokens:
            body["max_tokens"] = Run.max_new_tokens
        started = time.time()
        first_token: float | None = None
        done = False
        with self.client.post(
            "/v1/chat/completions",
            json=body,
            headers=Run.headers,
            timeout=Run.timeout_s,
            stream=True,
            catch_response=True,
            name="/v1/chat/completions",
        ) as response:
            status = response.status_code
            if status == 200:
                try:
                    for line in response.iter_lines(decode_unicode=True):
                        if not line or not line.startswith("data:"):
                            continue
                        payload = line[len("data:") :].strip()
                        if payload == "[DONE]":
                            done = True
                            break
                        if first_token is None and _has_content(payload):
                            first_token = time.time() - started
                except OSError:
                    done = False
            ok = status == 200 and done
            if ok:
                response.success()
                code = ""
            elif status == 200:
                # Headers said 200, then the stream broke before `data: [DONE]`.
                response.failure("stream ended early")
                code = "stream_incomplete"
            else:
                response.failure(f"HTTP {status}")
                code = _error_code(response)
            _record("chat", started, status, ok, ttft_s=first_token, code=code)


def _has_content(payload: str) -> bool:
    """True for a chat.completion.chunk whose first choice carries text."""
    try:
        chunk = json.loads(payload)
        return bool(chunk["choices"][0]["delta"].get("content"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False
