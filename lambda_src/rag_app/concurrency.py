"""Running blocking client calls (boto3, qdrant-client) off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from anyio import to_thread

T = TypeVar("T")
Args = TypeVarTuple("Args")


async def run_blocking(func: Callable[[*Args], T], *args: *Args) -> T:
    """Run `func` in a worker thread; on cancellation (deadline) stop waiting at once."""
    # abandon_on_cancel: without it the deadline would wait for a slow upstream to finish.
    return await to_thread.run_sync(func, *args, abandon_on_cancel=True)
