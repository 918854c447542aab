"""Per-request step latencies, each step written once by the code that composes the steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter


def ms_since(start: float) -> float:
    """Milliseconds since a perf_counter() reading, rounded to microseconds."""
    return round((perf_counter() - start) * 1000, 3)


class StepTimings:
    """One request's latencies by step name.

    Steps that run concurrently (expansion and self-query) write different names; a step
    that fans out (one search per phrasing and collection) is timed once around the fan-out,
    so no concurrent call can overwrite another's figure. A step run again later (a search
    retried without its filter) adds to its figure.
    """

    def __init__(self) -> None:
        self._ms: dict[str, float] = {}

    @contextmanager
    def measure(self, step: str) -> Iterator[None]:
        """Record how long the block took under `step`, even if it fails."""
        start = perf_counter()
        try:
            yield
        finally:
            self._ms[step] = round(self._ms.get(step, 0.0) + ms_since(start), 3)

    def record(self, step: str, ms: float) -> None:
        """Record a figure measured elsewhere (e.g. time to first token)."""
        self._ms[step] = ms

    def __contains__(self, step: str) -> bool:
        return step in self._ms

    def as_dict(self) -> dict[str, float]:
        """A copy, safe to hand to a response or a trace."""
        return dict(self._ms)
