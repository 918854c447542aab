"""Importing the handler stays light: boto3 and qdrant_client load at first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import rag_app

HEAVY = ["boto3", "botocore.client", "qdrant_client", "httpx", "numpy", "grpc"]


def test_handler_import_leaves_heavy_clients_unloaded(rag_env: dict[str, str]) -> None:
    script = (
        "import json, sys, rag_app.handler\n"
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(rag_app.__file__).parents[1])}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout.splitlines()[-1]) == []
