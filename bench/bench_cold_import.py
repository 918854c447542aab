"""Cold start of the RAG Lambda: the handler's import beside a naive import, and the first request.

Each import runs in a fresh interpreter (as a new Lambda container would). The first request
pays for what the handler leaves lazy (boto3, qdrant_client, the clients themselves); it is
measured against a local stand-in for SageMaker and a seeded local-mode Qdrant. Prints numbers
only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rag_fixtures import (
    LAMBDA_SRC,
    api_gateway_event,
    canned_answer,
    environment_without_app_settings,
    rag_settings,
    seed_qdrant,
)

RUNS = 10
FIRST_REQUEST_RUNS = 5
NAIVE_IMPORT = "import fastapi, mangum, boto3, qdrant_client"
HANDLER_IMPORT = "import rag_app.handler"
LAZY_IMPORTS = "import boto3, botocore.config, qdrant_client, qdrant_client.models"

# Runs in a fresh interpreter: imports the handler, then sends the same event several times.
FIRST_REQUEST_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import rag_app.handler as entry
imported = time.perf_counter()

class Context:
    aws_request_id = "bench"
    function_name = "llm-twin-rag"
    def get_remaining_time_in_millis(self):
        return 29000

event = json.loads(sys.argv[1])
requests = []
for _ in range(6):
    before = time.perf_counter()
    response = entry.handler(event, Context())
    requests.append(time.perf_counter() - before)
    if response["statusCode"] != 200:
        raise SystemExit(f"request failed: {response}")
with open(sys.argv[2], "w") as out:
    json.dump({"import": imported - started, "requests": requests}, out)
"""

# Importing what the first request imports, after the handler: the import share of its cost.
LAZY_IMPORT_SCRIPT = f"""
import sys, time
import rag_app.handler
before = time.perf_counter()
{LAZY_IMPORTS}
with open(sys.argv[1], "w") as out:
    out.write(str(time.perf_counter() - before))
"""


class FakeSageMakerHandler(BaseHTTPRequestHandler):
    """Answers InvokeEndpoint like TEI (embedding component) or TGI (anything else)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        component = self.headers.get("X-Amzn-SageMaker-Inference-Component", "")
        body = json.dumps(canned_answer(component)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def app_environment(qdrant_path: Path, endpoint_url: str) -> dict[str, str]:
    """The app's settings, pointed at the fake SageMaker server, for a fresh interpreter."""
    return {
        **environment_without_app_settings(),
        **rag_settings(qdrant_path),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
        "PYTHONPATH": str(LAMBDA_SRC),
    }


def fresh_interpreter_s(code: str, env: dict[str, str]) -> float:
    """Wall time of `python -c code` in a new process (interpreter start included)."""
    before = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - before


def run_script(script: str, env: dict[str, str], *args: str) -> str:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        subprocess.run(
            [sys.executable, "-c", script, *args, result.name],
            env=env,
            check=True,
            capture_output=True,
        )
        return result.read()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSageMakerHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as workdir:
        qdrant_path = Path(workdir) / "qdrant"
        seed_qdrant(qdrant_path)
        env = app_environment(qdrant_path, f"http://127.0.0.1:{server.server_address[1]}")

        # One untimed run each warms the OS file cache; then naive and handler alternate.
        fresh_interpreter_s(NAIVE_IMPORT, env)
        fresh_interpreter_s(HANDLER_IMPORT, env)
        baseline = statistics.median(fresh_interpreter_s("pass", env) for _ in range(RUNS))
        naive, handler = [], []
        for _ in range(RUNS):
            naive.append(fresh_interpreter_s(NAIVE_IMPORT, env))
            handler.append(fresh_interpreter_s(HANDLER_IMPORT, env))

        event = json.dumps(api_gateway_event("How do RAG systems use retrieval?"))
        first, steady = [], []
        for _ in range(FIRST_REQUEST_RUNS):
            measured = json.loads(run_script(FIRST_REQUEST_SCRIPT, env, event))
            first.append(measured["requests"][0])
            steady.append(statistics.median(measured["requests"][1:]))
        lazy_imports = [
            float(run_script(LAZY_IMPORT_SCRIPT, env)) for _ in range(FIRST_REQUEST_RUNS)
        ]
    server.shutdown()

    naive_median = statistics.median(naive)
    handler_median = statistics.median(handler)
    first_median = statistics.median(first)
    steady_median = statistics.median(steady)
    print(f"cold import, median of {RUNS} fresh interpreters (interpreter start included):")
    print(f"  python -c pass:                            {ms(baseline)}")
    print(f"  naive ({NAIVE_IMPORT}): {ms(naive_median)}")
    print(f"  handler ({HANDLER_IMPORT}):            {ms(handler_median)}")
    print(f"  ratio handler/naive:                       {handler_median / naive_median:.2f}")
    print(f"first request after a cold import, median of {FIRST_REQUEST_RUNS} fresh interpreters:")
    print(f"  first request:                             {ms(first_median)}")
    print(f"  later requests (steady state):             {ms(steady_median)}")
    print(f"  first-request extra:                       {ms(first_median - steady_median)}")
    print(f"  of which importing boto3 + qdrant_client:  {ms(statistics.median(lazy_imports))}")


if __name__ == "__main__":
    main()
