"""Progress and error lines for local mode's commands, one prefix per process."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

_prefix = "[local]"


def set_prefix(name: str) -> None:
    """Tag this process's lines (the endpoint and the launcher share one terminal)."""
    global _prefix
    _prefix = f"[{name}]"


def say(message: str) -> None:
    print(f"{_prefix} {message}", flush=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Announce a long step before it starts and say how long it took."""
    say(f"{message} ...")
    started = time.perf_counter()
    yield
    say(f"{message}: done in {time.perf_counter() - started:.1f} s")


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with a message a user can act on (no traceback)."""
    print(f"{_prefix} error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
