"""Importing the handler stays light: boto3 and qdrant_client load at first use.

Unless the init is prepaid (SnapStart snapshot, provisioned concurrency): then they load at
init, so the first caller does not pay for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rag_app

HEAVY = ["boto3", "botocore.client", "qdrant_client", "httpx", "numpy", "grpc"]


def heavy_modules_after_handler_import(init_type: str | None) -> list[str]:
    script = (
        "import json, sys, rag_app.handler\n"
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(rag_app.__file__).parents[1])}
    env.pop("AWS_LAMBDA_INITIALIZATION_TYPE", None)
    if init_type:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("init_type", [None, "on-demand"])
def test_handler_import_leaves_heavy_clients_unloaded(
    rag_env: dict[str, str], init_type: str | None
) -> None:
    assert heavy_modules_after_handler_import(init_type) == []


@pytest.mark.parametrize("init_type", ["snap-start", "provisioned-concurrency"])
def test_prepaid_init_loads_the_clients_before_the_first_request(
    rag_env: dict[str, str], init_type: str
) -> None:
    loaded = heavy_modules_after_handler_import(init_type)

    assert {"boto3", "botocore.client", "qdrant_client"} <= set(loaded)
