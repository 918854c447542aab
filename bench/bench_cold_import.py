"""Cold start of the RAG Lambda: the handler's import beside a naive import, and the first request.

Each import runs in a fresh interpreter (as a new Lambda container would). The first request
pays for what the handler leaves lazy (boto3, qdrant_client, the clients themselves); it is
measured against a local stand-in for SageMaker and a seeded local-mode Qdrant. Prints numbers
only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LAMBDA_SRC = REPO / "lambda_src"
RUNS = 10
FIRST_REQUEST_RUNS = 5
DIMENSIONS = 384
COLLECTIONS = ["embedded_articles", "embedded_posts", "embedded_repositories"]
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


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


def random_vector(rng: random.Random) -> list[float]:
    return unit([rng.gauss(0, 1) for _ in range(DIMENSIONS)])


def seed_qdrant(path: Path) -> None:
    """Three collections of 50 points each, written like the feature pipeline writes them."""
    from qdrant_client import QdrantClient, models

    rng = random.Random(7)
    client = QdrantClient(path=str(path))
    for collection in COLLECTIONS:
        client.create_collection(
            collection,
            vectors_config=models.VectorParams(size=DIMENSIONS, distance=models.Distance.COSINE),
        )
        points = [
            models.PointStruct(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                vector=random_vector(rng),
                payload={
                    "content": f"Chunk {i} of {collection}: " + "retrieval matters. " * 40,
                    "platform": "medium",
                    "document_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "author_id": "2b1c8a4e-3f1d-4c55-9a7b-6a0d1e2f3a4b",
                    "author_full_name": "Paul Iusztin",
                    "link": f"https://medium.com/@paul/{i}",
                },
            )
            for i in range(50)
        ]
        client.upsert(collection, points=points)
    client.close()


class FakeSageMakerHandler(BaseHTTPRequestHandler):
    """Answers InvokeEndpoint like TEI (embedding component) or TGI (anything else)."""

    query_vector = random_vector(random.Random(11))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        component = self.headers.get("X-Amzn-SageMaker-Inference-Component", "")
        answer: Any
        if component.endswith("embedding"):
            answer = [self.query_vector]
        else:
            answer = [
                {
                    "generated_text": "Retrieval is where RAG wins or loses.",
                    "details": {"generated_tokens": 9, "finish_reason": "eos_token"},
                }
            ]
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def rag_settings(qdrant_path: Path, endpoint_url: str) -> dict[str, str]:
    """Every RAG_ setting the model config produces, plus local endpoints and dummy credentials."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RAG_", "AWS_", "POWERTOOLS_"))
    }
    env.update(
        {
            "RAG_ENDPOINT_NAME": "twin-endpoint",
            "RAG_LLM_COMPONENT": "twin-llm",
            "RAG_EMBEDDING_COMPONENT": "twin-embedding",
            "RAG_MODEL_ID": "mlabonne/TwinLlama-3.1-8B-DPO",
            "RAG_PROMPT_TEMPLATE": "Context:\n{context}\n\nRequest: {query}\n\nResponse:",
            "RAG_MAX_INPUT_TOKENS": "2048",
            "RAG_CHARS_PER_TOKEN": "3.0",
            "RAG_MAX_NEW_TOKENS": "150",
            "RAG_TEMPERATURE": "0.01",
            "RAG_TOP_P": "0.9",
            "RAG_REPETITION_PENALTY": "1.1",
            "RAG_STOP": "[]",
            "RAG_COLLECTIONS": json.dumps(COLLECTIONS),
            "RAG_TOP_K": "3",
            "RAG_REQUEST_TIMEOUT_S": "25",
            "RAG_QDRANT_PATH": str(qdrant_path),
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONPATH": str(LAMBDA_SRC),
        }
    )
    return env


def api_gateway_event(query: str) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "Host": "abc.execute-api.eu-west-1.amazonaws.com",
    }
    return {
        "resource": "/rag",
        "path": "/rag",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/rag",
            "httpMethod": "POST",
            "requestId": str(uuid.uuid4()),
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "bench"},
        },
        "body": json.dumps({"query": query}),
        "isBase64Encoded": False,
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
        env = rag_settings(qdrant_path, f"http://127.0.0.1:{server.server_address[1]}")

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
