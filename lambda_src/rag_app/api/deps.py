"""Request dependencies: the app's settings, pipeline and request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag_app.pipeline import RagPipeline
from rag_app.settings import Settings

UNKNOWN_REQUEST_ID = "unknown"


# async def: FastAPI runs plain def dependencies in a thread, which costs per request.
async def get_settings(request: Request) -> Settings:
    """The settings validated at start-up."""
    settings: Settings = request.app.state.settings
    return settings


async def get_pipeline(request: Request) -> RagPipeline:
    """The container-wide pipeline."""
    pipeline: RagPipeline = request.app.state.pipeline
    return pipeline


async def get_request_id(request: Request) -> str:
    """The id RequestContextMiddleware gave this request."""
    return request_id_of(request)


def request_id_of(request: Request) -> str:
    """The request id, also where no dependency can be injected (error handlers)."""
    request_id = request.scope.get("state", {}).get("request_id")
    return request_id if isinstance(request_id, str) else UNKNOWN_REQUEST_ID


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[RagPipeline, Depends(get_pipeline)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
