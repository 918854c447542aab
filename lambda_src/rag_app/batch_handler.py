"""The batch Lambda entry: `rag_app.batch_handler.handler`, invoked by the batch state machine.

A third thin entry beside Mangum (handler.py) and the Web Adapter: each line goes through the
app's own chat route in-process (httpx's ASGI transport), so its validation, statuses and
OpenAI bodies are the online route's. Events:
- `{"action": "line", "batch_id", "index", "item"}`: one input line (Distributed Map item);
- `{"action": "finalize", "batch_id"}`: write the output and error files, end the batch.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field, TypeAdapter

from rag_app.batch.lines import run_line
from rag_app.batch.models import InputLine
from rag_app.batch.setup import batch_service_of
from rag_app.log import logger
from rag_app.main import create_app

# Requests never leave the process; the host only fills the Host header.
IN_PROCESS_URL = "http://batch.internal"


class LineEvent(BaseModel):
    action: Literal["line"]
    batch_id: str
    # The Distributed Map's item index (0-based).
    index: Annotated[int, Field(ge=0)]
    item: dict[str, Any]


class FinalizeEvent(BaseModel):
    action: Literal["finalize"]
    batch_id: str


Event = TypeAdapter(Annotated[LineEvent | FinalizeEvent, Field(discriminator="action")])


class BatchEntry:
    """Runs batch events against one app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        parsed = Event.validate_python(event)
        logger.append_keys(batch_id=parsed.batch_id)
        if isinstance(parsed, FinalizeEvent):
            batch = batch_service_of(self.app.state).finalize(parsed.batch_id)
            return {"batch_id": batch.id, "status": batch.status}
        return asyncio.run(self.run(parsed))

    async def run(self, event: LineEvent) -> dict[str, Any]:
        """Run one line unless the batch stopped; ModelWaking or LineTransient ask for a retry."""
        service = batch_service_of(self.app.state)
        line = InputLine(line=event.index + 1, **event.item)
        batch = service.store.get_batch(event.batch_id)
        if batch.status != "in_progress" or service.expired(batch):
            # Cancelled or past its window: finalize reports the line as not run.
            return {"custom_id": line.custom_id, "skipped": batch.status}
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL) as client:
            result = await run_line(client, line)
        recorded = service.store.record_result(event.batch_id, result)
        status = result.response.status_code if result.response else None
        return {"custom_id": line.custom_id, "status_code": status, "recorded": recorded}


@functools.cache
def entry() -> BatchEntry:
    """The entry for this container, with the app built from the environment at first call."""
    return BatchEntry(create_app())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return entry()(event, context)
