"""The text-embeddings-inference (TEI) embed contract in front of the local embedder."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from local.embedder import Embedder
from local.tgi import TgiError, decode_body

# TEI's router default for --max-client-batch-size.
MAX_CLIENT_BATCH_SIZE = 32

# TEI answers errors with the same `{"error", "error_type"}` shape as TGI.
TeiError = TgiError


class EmbedRequest(BaseModel):
    """What TEI's `/embed` (and, for an embedding model, `/invocations`) accepts."""

    model_config = ConfigDict(extra="ignore")

    inputs: str | list[str]
    normalize: bool = True
    truncate: bool = False


def parse_request(body: bytes) -> EmbedRequest:
    """Decode a body like TEI's JSON extractor (400 bad JSON, 422 wrong shape)."""
    return decode_body(body, EmbedRequest)


def validate(request: EmbedRequest, embedder: Embedder) -> list[str]:
    """TEI's input checks: non-empty batch, batch size, and token length unless truncating."""
    texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    if not texts:
        raise TeiError(400, "`inputs` cannot be empty", "empty")
    if len(texts) > MAX_CLIENT_BATCH_SIZE:
        raise TeiError(
            413,
            f"batch size {len(texts)} > maximum allowed batch size {MAX_CLIENT_BATCH_SIZE}",
            "validation",
        )
    if not request.truncate:
        longest = max(embedder.count_tokens(texts))
        if longest > embedder.max_tokens:
            raise TeiError(
                413,
                f"Input validation error: `inputs` must have less than {embedder.max_tokens} "
                f"tokens. Given: {longest}",
                "validation",
            )
    return texts


def embed(request: EmbedRequest, embedder: Embedder) -> list[list[float]]:
    """Validate, then embed: one vector per input, even for a single string."""
    texts = validate(request, embedder)
    return embedder.embed(texts, normalize=request.normalize)
