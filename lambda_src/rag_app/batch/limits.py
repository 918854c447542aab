"""Bounds of the Batch API.

An upload reaches the app through API Gateway (10 MB payloads) and a synchronous Lambda
invocation (6 MB), and a multipart body declared binary arrives base64-encoded (4/3 larger):
4 MiB of body stays under both with room for the event around it.
"""

from __future__ import annotations

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
# The JSONL file inside the multipart body: the body less room for its headers and boundary.
MAX_INPUT_FILE_BYTES = MAX_UPLOAD_BYTES - 16 * 1024
# OpenAI's own bound on requests per batch.
MAX_LINES = 50_000
# Batches per page of GET /v1/batches, as OpenAI allows.
DEFAULT_PAGE = 20
MAX_PAGE = 100
