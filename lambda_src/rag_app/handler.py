"""The Lambda entry point: `rag_app.handler.handler`."""

from __future__ import annotations

from mangum import Mangum

from rag_app.main import create_app

app = create_app()
# lifespan off: Mangum would run startup and shutdown around every invocation.
handler = Mangum(app, lifespan="off")
