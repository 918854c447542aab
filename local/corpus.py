"""Documents with front matter, cut into chunks with stable ids and the reference payload."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Fixed namespace: the same document and chunk always get the same UUIDs, so ingest is idempotent.
NAMESPACE = uuid.UUID("5d6f2a1c-8a43-4e55-9c7b-2f1e0b7d9a10")
KINDS = {
    "article": "embedded_articles",
    "post": "embedded_posts",
    "repository": "embedded_repositories",
}
SUFFIXES = {".md", ".markdown", ".txt"}
# all-MiniLM-L6-v2 reads at most 256 word pieces: about 1,000 characters of English.
MAX_CHUNK_CHARS = 900
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class CorpusError(ValueError):
    """A document that cannot be loaded; the message names the file."""


def author_id(full_name: str) -> str:
    """The author's id as a UUID string, derived from the name."""
    return str(uuid.uuid5(NAMESPACE, f"author:{full_name}"))


@dataclass(frozen=True)
class Document:
    """One source file: its metadata and its text without front matter."""

    path: Path
    kind: str
    author: str
    platform: str
    text: str
    title: str | None = None
    link: str | None = None
    name: str | None = None

    @property
    def collection(self) -> str:
        return KINDS[self.kind]

    @property
    def document_id(self) -> str:
        key = self.link or f"{self.kind}:{self.author}:{self.title or self.path.name}"
        return str(uuid.uuid5(NAMESPACE, f"document:{key}"))


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the embedding model, with its Qdrant payload."""

    id: str
    collection: str
    content: str
    payload: dict[str, Any]


def parse_document(path: Path) -> Document | None:
    """Read one file; None if it has no front matter (e.g. a README about the folder)."""
    raw = path.read_text(encoding="utf-8")
    found = _FRONT_MATTER.match(raw)
    if found is None:
        return None
    try:
        meta = yaml.safe_load(found.group(1)) or {}
    except yaml.YAMLError as err:
        raise CorpusError(f"{path}: front matter is not valid YAML: {err}") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{path}: front matter must be a mapping")
    kind = str(meta.get("kind", "")).lower()
    if kind not in KINDS:
        raise CorpusError(f"{path}: kind must be one of {', '.join(KINDS)}, got {kind or 'none'}")
    missing = [key for key in ("author", "platform") if not meta.get(key)]
    if kind in ("article", "repository") and not meta.get("link"):
        missing.append("link")
    if kind == "repository" and not meta.get("name"):
        missing.append("name")
    if missing:
        raise CorpusError(f"{path}: front matter lacks {', '.join(missing)}")
    return Document(
        path=path,
        kind=kind,
        author=str(meta["author"]),
        platform=str(meta["platform"]),
        text=raw[found.end() :].strip(),
        title=str(meta["title"]) if meta.get("title") else None,
        link=str(meta["link"]) if meta.get("link") else None,
        name=str(meta["name"]) if meta.get("name") else None,
    )


def load_documents(source: Path) -> tuple[list[Document], list[Path]]:
    """Every document under `source`, and the files skipped for lack of front matter."""
    if not source.is_dir():
        raise CorpusError(f"source folder not found: {source}")
    documents, skipped = [], []
    for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in SUFFIXES):
        document = parse_document(path)
        if document is None:
            skipped.append(path)
        elif document.text:
            documents.append(document)
    return documents, skipped


def split_text(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Paragraph-sized pieces of at most `max_chars`, cutting long paragraphs at sentences."""
    pieces: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            if current and len(current) + 1 + len(sentence) > max_chars:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    # Glue neighbours back together while they fit: fewer, more complete chunks.
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= max_chars:
            chunks[-1] = f"{chunks[-1]}\n\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def chunk_document(document: Document) -> list[Chunk]:
    """The document's chunks; each starts with the title so it stands on its own."""
    payload: dict[str, Any] = {
        "platform": document.platform,
        "document_id": document.document_id,
        "author_id": author_id(document.author),
        "author_full_name": document.author,
    }
    if document.link:
        payload["link"] = document.link
    if document.kind == "repository":
        payload["name"] = document.name
    heading = f"{document.title}\n\n" if document.title else ""
    budget = MAX_CHUNK_CHARS - len(heading)
    chunks = []
    for index, text in enumerate(split_text(document.text, budget)):
        content = heading + text
        point_id = str(uuid.uuid5(NAMESPACE, f"chunk:{document.document_id}:{index}"))
        chunks.append(
            Chunk(point_id, document.collection, content, {**payload, "content": content})
        )
    return chunks
