"""Local mode re-ingests the evaluation corpus only when it changed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from evaluation import local_stack
from evaluation.local_stack import LocalModeError, corpus_digest, ensure_store


def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus" / "posts"
    folder.mkdir(parents=True)
    (folder / "a.md").write_text("---\nkind: post\nauthor: A\nplatform: x\n---\nHello.\n")
    return folder.parent


def test_the_digest_follows_names_and_bytes(tmp_path: Path) -> None:
    source = corpus(tmp_path)
    before = corpus_digest(source)
    assert corpus_digest(source) == before
    (source / "posts" / "a.md").write_text("changed")
    changed = corpus_digest(source)
    assert changed != before
    (source / "posts" / "a.md").rename(source / "posts" / "b.md")
    assert corpus_digest(source) not in (before, changed)


def test_the_store_is_ingested_once_per_corpus_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, store = corpus(tmp_path), tmp_path / "store"
    commands: list[list[str]] = []

    def ingest(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        Path(command[command.index("--qdrant-path") + 1]).mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(local_stack.subprocess, "run", ingest)
    path = ensure_store(source, store, "smollm2-1.7b")
    assert path == store / "qdrant"
    assert commands[0][1:5] == ["-m", "local.ingest", "--source", str(source)]
    ensure_store(source, store, "smollm2-1.7b")
    assert len(commands) == 1  # unchanged corpus: the stored points are reused
    (source / "posts" / "a.md").write_text("---\nkind: post\nauthor: A\nplatform: x\n---\nBye.\n")
    ensure_store(source, store, "smollm2-1.7b")
    assert len(commands) == 2


def test_a_failed_ingest_is_reported_and_not_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        local_stack.subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 1)
    )
    with pytest.raises(LocalModeError, match="exit 1"):
        ensure_store(corpus(tmp_path), tmp_path / "store", "smollm2-1.7b")
    assert not (tmp_path / "store" / local_stack.STAMP).exists()
