"""The RAG app's bounds (lambda_src/rag_app/limits.py), read from its file.

The CDK app runs without lambda_src on its import path, and the Lambda package holds no
model_config, so the file is loaded by path: one home for each bound, read by both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

LIMITS_FILE = Path(__file__).resolve().parent.parent / "lambda_src" / "rag_app" / "limits.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rag_app_limits", LIMITS_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the app's limits from {LIMITS_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_limits = _load()
MAX_K: int = _limits.MAX_K
MAX_PHRASINGS: int = _limits.MAX_PHRASINGS
BUFFERED_INTEGRATION_TIMEOUT_S: int = _limits.BUFFERED_INTEGRATION_TIMEOUT_S
STREAM_INTEGRATION_TIMEOUT_MAX_S: int = _limits.STREAM_INTEGRATION_TIMEOUT_MAX_S
DEADLINE_MARGIN_S: int = _limits.DEADLINE_MARGIN_S
MAX_REQUEST_TIMEOUT_S: int = _limits.MAX_REQUEST_TIMEOUT_S
MAX_STREAM_TIMEOUT_S: int = _limits.MAX_STREAM_TIMEOUT_S
