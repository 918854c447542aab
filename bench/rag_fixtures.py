"""What the RAG app benchmarks share: a seeded local Qdrant, the app's settings, canned answers."""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from pathlib import Path
from typing import Any

LAMBDA_SRC = Path(__file__).resolve().parents[1] / "lambda_src"
DIMENSIONS = 384
COLLECTIONS = ["embedded_articles", "embedded_posts", "embedded_repositories"]
EMBEDDING_COMPONENT = "twin-embedding"
TGI_ANSWER = [
    {
        "generated_text": "Retrieval is where RAG wins or loses.",
        "details": {"generated_tokens": 9, "finish_reason": "eos_token"},
    }
]


def random_vector(rng: random.Random) -> list[float]:
    """A unit vector, like the normalized embeddings TEI returns."""
    vector = [rng.gauss(0, 1) for _ in range(DIMENSIONS)]
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


QUERY_VECTOR = random_vector(random.Random(11))


def canned_answer(component: str) -> Any:
    """What TEI (the embedding component) or TGI (any other) answers."""
    return [QUERY_VECTOR] if component == EMBEDDING_COMPONENT else TGI_ANSWER


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


def rag_settings(qdrant_path: Path) -> dict[str, str]:
    """The RAG_ settings a deployment gives the app, with a local store and dummy credentials."""
    return {
        "RAG_ENDPOINT_NAME": "twin-endpoint",
        "RAG_LLM_COMPONENT": "twin-llm",
        "RAG_EMBEDDING_COMPONENT": EMBEDDING_COMPONENT,
        "RAG_MODEL_ID": "mlabonne/TwinLlama-3.1-8B-DPO",
        # The canned LLM answer is TGI's generate contract.
        "RAG_LLM_ENGINE": "tgi",
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
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def environment_without_app_settings() -> dict[str, str]:
    """This process's environment minus anything that could change the app's settings."""
    prefixes = ("RAG_", "AWS_", "POWERTOOLS_")
    return {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}


def api_gateway_event(query: str) -> dict[str, Any]:
    """A POST /rag event as API Gateway REST (v1) hands it to the Lambda."""
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
