"""OpenAI's Files API for batch input and output: upload, list, describe, download, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from rag_app.api.error_handlers import error_responses
from rag_app.batch.models import FileObject
from rag_app.batch.service import BatchService
from rag_app.batch.setup import batch_service_of
from rag_app.chat_schemas import OpenAiErrorResponse

router = APIRouter(prefix="/v1", tags=["batch"])
ERROR_RESPONSES = error_responses(
    OpenAiErrorResponse, {400: "Invalid request", 404: "No such file"}
)


def get_batch_service(request: Request) -> BatchService:
    """The Batch API's service, built at first use so its AWS clients stay off the cold start."""
    return batch_service_of(request.app.state)


BatchServiceDep = Annotated[BatchService, Depends(get_batch_service)]


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class DeletedFile(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


# Plain def routes: the store blocks (disk, boto3), so FastAPI runs them in its thread pool.
@router.post("/files", responses=ERROR_RESPONSES)
def create_file(
    file: UploadFile, purpose: Annotated[str, Form()], service: BatchServiceDep
) -> FileObject:
    """Upload a JSONL batch input file (multipart, purpose=batch)."""
    content = file.file.read()
    return service.create_file(file.filename or "input.jsonl", purpose, content)


@router.get("/files", responses=ERROR_RESPONSES)
def list_files(service: BatchServiceDep) -> FileList:
    files = service.store.list_files()
    return FileList(
        data=files,
        first_id=files[0].id if files else None,
        last_id=files[-1].id if files else None,
    )


@router.get("/files/{file_id}", responses=ERROR_RESPONSES)
def get_file(file_id: str, service: BatchServiceDep) -> FileObject:
    return service.store.get_file(file_id)


@router.get(
    "/files/{file_id}/content",
    responses={**ERROR_RESPONSES, 200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
def file_content(file_id: str, service: BatchServiceDep) -> Response:
    """The file's bytes as uploaded or produced."""
    return Response(service.store.file_content(file_id), media_type="application/octet-stream")


@router.delete("/files/{file_id}", responses=ERROR_RESPONSES)
def delete_file(file_id: str, service: BatchServiceDep) -> DeletedFile:
    service.store.delete_file(file_id)
    return DeletedFile(id=file_id)
