"""Cold start of the RAG Lambda: imports, the cold first answer, and the first answer after priming.

Every measurement runs in fresh interpreters (as new Lambda environments would), against a local
stand-in for SageMaker and one for a Qdrant server's REST API (the deployed app talks to a
remote Qdrant, not a local store). Three comparisons, each side by side in this run:

- the handler's import against a naive import of the same libraries;
- the cold first answer (interpreter start, import, first request) of the handler against a
  naive handler that imports its clients' libraries at init;
- the first request after SnapStart priming and restore (`rag_app.lifecycle`, the local proxy
  for a restored snapshot) against the warm requests that follow it.

Prints numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rag_fixtures import (
    LAMBDA_SRC,
    QUERY_VECTOR,
    api_gateway_event,
    canned_answer,
    environment_without_app_settings,
    rag_settings,
)

RUNS = 10
FIRST_ANSWER_RUNS = 8
PRIMED_RUNS = 8
WARM_REQUESTS = 6
NAIVE_IMPORT = "import fastapi, mangum, boto3, qdrant_client"
HANDLER_IMPORT = "import rag_app.handler"

# A handler's cold first answer: import (naive or not), then one request through Mangum.
FIRST_ANSWER_SCRIPT = """
import json, sys
{imports}
import rag_app.handler as entry

class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 29000

response = entry.handler(json.loads(sys.argv[1]), Context())
if response["statusCode"] != 200:
    raise SystemExit(f"request failed: {{response}}")
"""

# SnapStart's lifecycle in one interpreter: init, the before-snapshot hook, the after-restore
# hook, then the first request and the warm ones after it.
PRIMED_SCRIPT = f"""
import json, sys, time
import rag_app.handler as entry
from rag_app.lifecycle import before_snapshot, mangum_sender, renew_after_restore

class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 29000

pipeline = entry.app.state.pipeline
before = time.perf_counter()
before_snapshot(pipeline, mangum_sender(entry.handler))
primed = time.perf_counter()
renew_after_restore(pipeline)
restored = time.perf_counter()
event = json.loads(sys.argv[1])
requests = []
for _ in range({1 + WARM_REQUESTS}):
    started = time.perf_counter()
    response = entry.handler(event, Context())
    requests.append(time.perf_counter() - started)
    if response["statusCode"] != 200:
        raise SystemExit(f"request failed: {{response}}")
with open(sys.argv[2], "w") as out:
    json.dump({{"prime": primed - before, "restore": restored - primed, "requests": requests}}, out)
"""


# What the first request imports lazily, timed after the handler: the import share of its cost.
LAZY_IMPORT_SCRIPT = """
import sys, time
import rag_app.handler
from rag_app.lifecycle import FIRST_REQUEST_MODULES
before = time.perf_counter()
for module in FIRST_REQUEST_MODULES:
    __import__(module)
with open(sys.argv[1], "w") as out:
    out.write(str(time.perf_counter() - before))
"""


class FakeSageMakerHandler(BaseHTTPRequestHandler):
    """Answers InvokeEndpoint like TEI (embedding component) or TGI (anything else)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        component = self.headers.get("X-Amzn-SageMaker-Inference-Component", "")
        reply_json(self, canned_answer(component))

    def log_message(self, format: str, *args: Any) -> None:
        return


QUERY_PATH = re.compile(r"^/collections/([^/]+)/points/query")


class FakeQdrantHandler(BaseHTTPRequestHandler):
    """Answers Qdrant's REST query (POST /collections/<name>/points/query) with fixed points."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        match = QUERY_PATH.match(self.path)
        if match is None:
            self.send_error(404)
            return
        collection = match.group(1)
        points = [
            {
                "id": f"00000000-0000-4000-8000-{index:012d}",
                "version": 1,
                "score": 0.9 - index / 100,
                "payload": {
                    "content": f"Chunk {index} of {collection}: " + "retrieval matters. " * 40,
                    "platform": "medium",
                    "document_id": f"10000000-0000-4000-8000-{index:012d}",
                    "author_id": "2b1c8a4e-3f1d-4c55-9a7b-6a0d1e2f3a4b",
                    "author_full_name": "Paul Iusztin",
                    "link": f"https://medium.com/@paul/{index}",
                },
            }
            for index in range(int(body.get("limit", 3)))
        ]
        reply_json(self, {"result": {"points": points}, "status": "ok", "time": 0.001})

    def log_message(self, format: str, *args: Any) -> None:
        return


def reply_json(handler: BaseHTTPRequestHandler, answer: Any) -> None:
    body = json.dumps(answer).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def app_environment(sagemaker_url: str, qdrant_url: str) -> dict[str, str]:
    """The app's settings, pointed at the two stand-ins, for a fresh interpreter."""
    settings = rag_settings(Path("unused"))
    del settings["RAG_QDRANT_PATH"]
    return {
        **environment_without_app_settings(),
        **settings,
        "RAG_QDRANT_URL": qdrant_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker_url,
        "PYTHONPATH": str(LAMBDA_SRC),
    }


def fresh_interpreter_s(env: dict[str, str], code: str, *args: str) -> float:
    """Wall time of `python -c code` in a new process (interpreter start included)."""
    before = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - before


def run_script(env: dict[str, str], script: str, *args: str) -> str:
    """Run `script` in a new interpreter; it writes its figures to the file named last."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        subprocess.run(
            [sys.executable, "-c", script, *args, result.name],
            env=env,
            check=True,
            capture_output=True,
        )
        return result.read()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main() -> None:
    assert len(QUERY_VECTOR) == 384  # the stand-in embedder's answer, as TEI would give it
    with serving(FakeSageMakerHandler) as sagemaker_url, serving(FakeQdrantHandler) as qdrant_url:
        env = app_environment(sagemaker_url, qdrant_url)
        event = json.dumps(api_gateway_event("How do RAG systems use retrieval?"))
        naive_answer = FIRST_ANSWER_SCRIPT.format(imports=NAIVE_IMPORT)
        handler_answer = FIRST_ANSWER_SCRIPT.format(imports="")

        # One untimed run of each warms the OS file cache; then the pairs alternate.
        for code in (NAIVE_IMPORT, HANDLER_IMPORT, naive_answer, handler_answer):
            fresh_interpreter_s(env, code, event)
        baseline = statistics.median(fresh_interpreter_s(env, "pass") for _ in range(RUNS))
        naive_import, handler_import = [], []
        for _ in range(RUNS):
            naive_import.append(fresh_interpreter_s(env, NAIVE_IMPORT))
            handler_import.append(fresh_interpreter_s(env, HANDLER_IMPORT))
        naive_first, handler_first = [], []
        for _ in range(FIRST_ANSWER_RUNS):
            naive_first.append(fresh_interpreter_s(env, naive_answer, event))
            handler_first.append(fresh_interpreter_s(env, handler_answer, event))
        lazy_imports = [float(run_script(env, LAZY_IMPORT_SCRIPT)) for _ in range(PRIMED_RUNS)]
        primed = [json.loads(run_script(env, PRIMED_SCRIPT, event)) for _ in range(PRIMED_RUNS)]

    first_after_restore = statistics.median(run["requests"][0] for run in primed)
    warm = statistics.median(statistics.median(run["requests"][1:]) for run in primed)
    # Each run's first request against its own warm ones, then the median over runs.
    first_to_warm = statistics.median(
        run["requests"][0] / statistics.median(run["requests"][1:]) for run in primed
    )
    print(f"cold import, median of {RUNS} fresh interpreters (interpreter start included):")
    print(f"  python -c pass:                          {ms(baseline)}")
    print(f"  naive ({NAIVE_IMPORT}): {ms(statistics.median(naive_import))}")
    print(f"  handler ({HANDLER_IMPORT}):          {ms(statistics.median(handler_import))}")
    ratio = statistics.median(handler_import) / statistics.median(naive_import)
    print(f"  ratio handler/naive:                     {ratio:.2f}")
    print(f"cold first answer without SnapStart, median of {FIRST_ANSWER_RUNS} fresh interpreters")
    print("(interpreter start, import, first request through Mangum):")
    print(f"  naive handler (imports its clients at init): {ms(statistics.median(naive_first))}")
    print(f"  handler:                                 {ms(statistics.median(handler_first))}")
    ratio = statistics.median(handler_first) / statistics.median(naive_first)
    print(f"  ratio handler/naive:                     {ratio:.2f}")
    print(
        f"  of which importing the first request's libraries: {ms(statistics.median(lazy_imports))}"
    )
    print(f"SnapStart lifecycle, median of {PRIMED_RUNS} fresh interpreters:")
    print(f"  before-snapshot priming (not on a caller's clock): {ms(median_of(primed, 'prime'))}")
    print(f"  after-restore renewal:                   {ms(median_of(primed, 'restore'))}")
    print(f"  first request after the restore:         {ms(first_after_restore)}")
    print(f"  warm request (median of the next {WARM_REQUESTS}):   {ms(warm)}")
    print(f"  ratio first/warm (median of per-run ratios): {first_to_warm:.2f}")
    print(
        f"  first request after the restore / cold first answer without SnapStart: "
        f"{first_after_restore / statistics.median(handler_first):.3f}"
    )


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


if __name__ == "__main__":
    main()
