"""The FastAPI app factory (uvicorn: `rag_app.main:create_app --factory`)."""

from __future__ import annotations

from fastapi import FastAPI

from rag_app.api.error_handlers import install_error_handlers
from rag_app.api.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    allow_browser_origins,
)
from rag_app.api.routes import batches, chat, files, health, rag
from rag_app.batch.limits import MAX_UPLOAD_BYTES
from rag_app.pipeline import RagPipeline
from rag_app.schemas import MAX_BODY_BYTES, MAX_CHAT_BODY_BYTES
from rag_app.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app with its settings validated now and its upstream clients opened lazily."""
    settings = settings if settings is not None else load_settings()
    app = FastAPI(
        title="LLM Twin RAG",
        version="1.0.0",
        summary="Answers queries in the author's voice with context retrieved from Qdrant.",
    )
    app.state.settings = settings
    app.state.pipeline = RagPipeline.from_settings(settings)
    app.include_router(health.router)
    app.include_router(rag.router)
    app.include_router(chat.router)
    if settings.batch_enabled:
        app.include_router(files.router)
        app.include_router(batches.router)
    install_error_handlers(app)
    # Added last runs first: the request id must exist before any other layer answers.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=MAX_BODY_BYTES,
        # A conversation carries its history.
        # First match wins: uploads before the rest of /v1.
        limits={"/v1/files": MAX_UPLOAD_BYTES, chat.router.prefix: MAX_CHAT_BODY_BYTES},
    )
    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origins:
        # Outermost, so every answer (errors included) carries the CORS headers.
        allow_browser_origins(app, settings.cors_origins)
    return app
