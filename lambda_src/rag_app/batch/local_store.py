"""The store on a local folder: JSON files written atomically, one lock file per batch.

The API and the local runner are separate processes sharing the folder, so every write is a
rename (readers never see half a file) and batch updates hold an fcntl lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag_app.batch.errors import NotFound
from rag_app.batch.models import Batch, FileObject, LineResult, RequestCounts
from rag_app.batch.store import BatchChange

# The counts of a batch in these grow as lines finish; the others carry final counts.
RUNNING_STATUSES = frozenset({"in_progress", "cancelling", "finalizing"})
# Ids come from new_id(); anything else (a path, "..") never reaches the file system.
SAFE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


class LocalBatchStore:
    """A BatchStore under `root`: files/, batches/<id>/batch.json and results/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.batches = root / "batches"

    def put_file(self, file: FileObject, content: bytes) -> None:
        self.files.mkdir(parents=True, exist_ok=True)
        _write(self._file_content_path(file.id), content)
        _write(self._file_path(file.id), file.model_dump_json().encode())

    def get_file(self, file_id: str) -> FileObject:
        path = self._file_path(file_id)
        try:
            return FileObject.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise NotFound("file", file_id) from None

    def list_files(self) -> list[FileObject]:
        found = [
            FileObject.model_validate_json(path.read_bytes())
            for path in _glob(self.files, "*.json")
        ]
        return sorted(found, key=lambda f: (f.created_at, f.id), reverse=True)

    def file_content(self, file_id: str) -> bytes:
        self.get_file(file_id)
        return self._file_content_path(file_id).read_bytes()

    def delete_file(self, file_id: str) -> None:
        self.get_file(file_id)
        self._file_path(file_id).unlink(missing_ok=True)
        self._file_content_path(file_id).unlink(missing_ok=True)

    def put_batch(self, batch: Batch) -> None:
        folder = self._batch_folder(batch.id)
        (folder / "results").mkdir(parents=True, exist_ok=True)
        _write(folder / "batch.json", batch.model_dump_json().encode())

    def get_batch(self, batch_id: str) -> Batch:
        batch = self._read_batch(batch_id)
        if batch.status not in RUNNING_STATUSES:
            return batch
        # Still running: count what the runner has recorded so far.
        results = self.results(batch_id).values()
        completed = sum(1 for result in results if result.succeeded)
        counts = RequestCounts(
            total=batch.request_counts.total,
            completed=completed,
            failed=len(results) - completed,
        )
        return batch.model_copy(update={"request_counts": counts})

    def list_batches(self, after: str | None, limit: int) -> tuple[list[Batch], bool]:
        batches = [
            Batch.model_validate_json(path.read_bytes())
            for path in _glob(self.batches, "*/batch.json")
        ]
        batches.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        if after is not None:
            ids = [batch.id for batch in batches]
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        page = [self.get_batch(batch.id) for batch in batches[:limit]]
        return page, len(batches) > limit

    def update_batch(self, batch_id: str, change: BatchChange) -> Batch:
        with self._locked(batch_id):
            batch = self._read_batch(batch_id)
            changed = change(batch)
            if changed is not None:
                self.put_batch(changed)
        return self.get_batch(batch_id)

    def record_result(self, batch_id: str, result: LineResult) -> bool:
        folder = self._batch_folder(batch_id) / "results"
        target = folder / f"{_digest(result.custom_id)}.json"
        staged = _stage(folder, result.model_dump_json().encode())
        try:
            # link() fails if the target exists: the first result of a line wins, atomically.
            os.link(staged, target)
        except FileExistsError:
            return False
        finally:
            staged.unlink()
        return True

    def results(self, batch_id: str) -> dict[str, LineResult]:
        found = (
            LineResult.model_validate_json(path.read_bytes())
            for path in _glob(self._batch_folder(batch_id) / "results", "*.json")
        )
        return {result.custom_id: result for result in found}

    def _read_batch(self, batch_id: str) -> Batch:
        try:
            return Batch.model_validate_json(
                (self._batch_folder(batch_id) / "batch.json").read_bytes()
            )
        except FileNotFoundError:
            raise NotFound("batch", batch_id) from None

    @contextmanager
    def _locked(self, batch_id: str) -> Iterator[None]:
        folder = self._batch_folder(batch_id)
        if not folder.is_dir():
            raise NotFound("batch", batch_id)
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _file_path(self, file_id: str) -> Path:
        return self.files / f"{_safe(file_id, 'file')}.json"

    def _file_content_path(self, file_id: str) -> Path:
        return self.files / f"{_safe(file_id, 'file')}.jsonl"

    def _batch_folder(self, batch_id: str) -> Path:
        return self.batches / _safe(batch_id, "batch")


def _safe(item_id: str, kind: str) -> str:
    if not item_id or not set(item_id) <= SAFE_ID_CHARS:
        raise NotFound(kind, item_id)
    return item_id


def _digest(custom_id: str) -> str:
    # custom_id is any string: hash it into a file name.
    return hashlib.sha256(custom_id.encode()).hexdigest()


def _glob(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def _stage(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix=".staged-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)


def _write(path: Path, data: bytes) -> None:
    staged = _stage(path.parent, data)
    os.replace(staged, path)
