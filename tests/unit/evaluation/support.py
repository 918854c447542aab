"""A tiny labelled set and a run over it with known ranks, sources and answers."""

from __future__ import annotations

from evaluation.client import Outcome, Retrieved, SourceRef
from evaluation.question_set import Question


def question(qid: str, relevant: list[str], facts: list[str] | None = None) -> Question:
    return Question(
        id=qid,
        question=f"question {qid}?",
        relevant_ids=relevant,
        key_facts=facts or [],
        answerable=bool(relevant),
        kind="single" if relevant else "unanswerable",
    )


def ranked(*documents: str | None) -> list[Retrieved]:
    """Chunks at ranks 1, 2, ... from these documents (one chunk each, in order)."""
    return [
        Retrieved(point_id=f"p{rank}", document_id=doc, rank=rank, score=1.0 / rank)
        for rank, doc in enumerate(documents, start=1)
    ]


def outcome(
    qid: str, documents: list[str | None], answer: str | None = None, variant: str = "default"
) -> Outcome:
    return Outcome(
        qid,
        variant,
        retrieved=ranked(*documents),
        sources=[SourceRef(point_id=f"p{i}", document_id=d) for i, d in enumerate(documents[:2])],
        answer=answer,
        latency_ms={"embed": 5.0, "total": 20.0},
        client_ms=25.0,
        ttft_ms=None if answer is None else 300.0,
    )
