"""GET /health: the app is up (upstreams are not called)."""

from __future__ import annotations

from fastapi import APIRouter

from rag_app.api.deps import SettingsDep
from rag_app.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(settings: SettingsDep) -> HealthResponse:
    """Liveness only: scaled-to-zero models must not make the app look down."""
    return HealthResponse(model_id=settings.model_id)
