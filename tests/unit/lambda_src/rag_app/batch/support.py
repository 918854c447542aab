"""Input files, a settable clock and a launcher that records calls, for the batch tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rag_app.batch.models import Batch


def request_line(custom_id: str, content: str = "hello", **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": content}], **body},
    }


def jsonl(*items: Any) -> bytes:
    return "".join(
        (item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items
    ).encode()


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingLauncher:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, batch: Batch) -> None:
        self.started.append(batch.id)

    def stop(self, batch: Batch) -> bool:
        self.stopped.append(batch.id)
        return self.stops_at_once

    stops_at_once: bool = False
