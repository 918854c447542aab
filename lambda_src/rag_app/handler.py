"""The Lambda entry point: `rag_app.handler.handler`."""

from __future__ import annotations

import importlib
import os

from mangum import Mangum

from rag_app.lifecycle import FIRST_REQUEST_MODULES, register_snapstart_hooks
from rag_app.main import create_app

# Inits no caller waits for: the first request's imports are worth paying here.
PREPAID_INIT_TYPES = {"snap-start", "provisioned-concurrency"}


def import_upstream_clients_if_init_is_prepaid() -> None:
    """Load the upstream client libraries now when no caller waits for this init."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in PREPAID_INIT_TYPES:
        for module in FIRST_REQUEST_MODULES:
            importlib.import_module(module)


app = create_app()
import_upstream_clients_if_init_is_prepaid()
# lifespan off: Mangum would run startup and shutdown around every invocation.
handler = Mangum(app, lifespan="off")
register_snapstart_hooks(app.state.pipeline, handler)
