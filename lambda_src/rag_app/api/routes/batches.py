"""OpenAI's Batch API: create, describe, list and cancel batches of chat completions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from rag_app.api.error_handlers import error_responses
from rag_app.api.routes.files import BatchServiceDep
from rag_app.batch.limits import DEFAULT_PAGE, MAX_PAGE
from rag_app.batch.models import BATCH_ENDPOINT, COMPLETION_WINDOW, Batch
from rag_app.chat_schemas import OpenAiErrorResponse

router = APIRouter(prefix="/v1", tags=["batch"])
ERROR_RESPONSES = error_responses(
    OpenAiErrorResponse,
    {400: "Invalid request", 404: "No such batch or input file", 409: "Not cancellable now"},
)
# OpenAI's bounds on metadata: 16 pairs, keys up to 64 and values up to 512 characters.
MetadataKey = Annotated[str, Field(max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]


class CreateBatch(BaseModel):
    """POST /v1/batches."""

    model_config = ConfigDict(extra="forbid", strict=True)

    input_file_id: Annotated[str, Field(min_length=1)]
    endpoint: Literal["/v1/chat/completions"] = Field(
        description=f"Only {BATCH_ENDPOINT} is served."
    )
    completion_window: Literal["24h"] = Field(description=f"Only {COMPLETION_WINDOW}.")
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None


class BatchList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Batch]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


@router.post("/batches", responses=ERROR_RESPONSES)
def create_batch(body: CreateBatch, service: BatchServiceDep) -> Batch:
    """Validate the input file and start running it; a bad file gives a `failed` batch."""
    return service.create_batch(body.input_file_id, body.metadata)


@router.get("/batches", responses=ERROR_RESPONSES)
def list_batches(
    service: BatchServiceDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> BatchList:
    """Batches newest first; `after` is the last id of the previous page."""
    batches, more = service.store.list_batches(after, limit)
    return BatchList(
        data=batches,
        first_id=batches[0].id if batches else None,
        last_id=batches[-1].id if batches else None,
        has_more=more,
    )


@router.get("/batches/{batch_id}", responses=ERROR_RESPONSES)
def get_batch(batch_id: str, service: BatchServiceDep) -> Batch:
    return service.store.get_batch(batch_id)


@router.post("/batches/{batch_id}/cancel", responses=ERROR_RESPONSES)
def cancel_batch(batch_id: str, service: BatchServiceDep) -> Batch:
    """Stop the run; lines already answered stay in the output file."""
    return service.cancel(batch_id)
