"""Local mode for `make eval`: the evaluation corpus in a store of its own, and the local
stack on free ports, stopped when the run ends."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.processes import LocalStack, StartupError
from local.settings import REPO_ROOT, Ports, resolve_gguf
from model_config import load_config

EVAL_CORPUS = REPO_ROOT / "evaluation" / "corpus"
# Not the demo's .local/qdrant: the evaluation corpus must not mix with the sample corpus.
EVAL_STORE = REPO_ROOT / ".local" / "eval-qdrant"
STAMP = "corpus.sha256"


class LocalModeError(RuntimeError):
    """The store could not be filled or the stack did not start; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def corpus_digest(corpus: Path) -> str:
    """A hash of every file's path and bytes: it changes when any document does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(corpus)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_store(corpus: Path, store: Path, model: str) -> Path:
    """The store holding exactly `corpus`, ingested with `python -m local.ingest` when the
    corpus changed since the last run (a removed document must not linger, so it starts over)."""
    qdrant_path = store / "qdrant"
    stamp = store / STAMP
    digest = corpus_digest(corpus)
    if stamp.is_file() and stamp.read_text().strip() == digest and qdrant_path.is_dir():
        return qdrant_path
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    command = [
        sys.executable, "-m", "local.ingest",
        "--source", str(corpus), "--model", model, "--qdrant-path", str(qdrant_path),
    ]  # fmt: skip
    # A fixed command of this interpreter; the paths come from the user's own options.
    result = subprocess.run(command, cwd=REPO_ROOT, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LocalModeError(f"ingesting {corpus} failed (exit {result.returncode}); see above")
    stamp.write_text(digest)
    return qdrant_path


@contextmanager
def local_stack(
    model: str, qdrant_path: Path, log_path: Path, helper_timeout_s: float | None = None
) -> Iterator[str]:
    """The endpoint and API on free ports, serving `qdrant_path`; yields the API's URL.

    helper_timeout_s overrides the config's deadline for the expansion and self-query calls:
    a CPU model may need longer than a GPU one to write them.
    """
    config = load_config(model)
    # The API opens the folder; a copy keeps the ingested store reusable by the next run.
    run_store = log_path.parent / "qdrant"
    shutil.rmtree(run_store, ignore_errors=True)
    shutil.copytree(qdrant_path, run_store)
    stack = LocalStack(
        config,
        run_store,
        Ports(endpoint=free_port(), api=free_port()),
        resolve_gguf(),
        log_path=log_path,
        api_overrides={"RAG_HELPER_TIMEOUT_S": str(helper_timeout_s)} if helper_timeout_s else None,
        batch_path=log_path.parent / "batch",
        model=model,
    )
    try:
        stack.start()
    except StartupError as err:
        raise LocalModeError(
            f"the local stack did not start: {err}; its log is {log_path}"
        ) from None
    try:
        yield stack.ports.api_url
    finally:
        stack.stop()
        shutil.rmtree(run_store, ignore_errors=True)
        shutil.rmtree(log_path.parent / "batch", ignore_errors=True)
