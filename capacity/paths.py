"""Where capacity planning reads its data and writes its runs."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
RUNS_DIR = REPO_ROOT / ".local" / "capacity"
QUESTIONS_FILE = PACKAGE_DIR / "loadtest" / "questions.txt"
PROFILES_DIR = PACKAGE_DIR / "profiles"


def run_dir(kind: str, label: str, out: Path | None = None) -> Path:
    """`out` if given, else a new `.local/capacity/<timestamp>-<kind>-<label>/`."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"
        out = RUNS_DIR / f"{stamp}-{kind}-{safe}"
    out.mkdir(parents=True, exist_ok=True)
    return out
