"""Merging several rankings of chunks into one: reciprocal rank fusion or best score."""

from __future__ import annotations

from collections.abc import Sequence

from rag_app.services.retriever import Chunk, merge_hits

# Cormack, Clarke & Buettcher (SIGIR 2009): score(d) = sum over rankings of 1 / (k + rank).
RRF_K = 60


# "Every chunk once, at its best score, best first" is what the retriever already does with
# its collections' hits: one function for both.
by_best_score = merge_hits


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Chunk]], k: int = RRF_K) -> list[Chunk]:
    """Every chunk once, scored sum(1 / (k + rank)) over the rankings it is in, best first.

    Ties keep the order in which the chunks were first met (earlier rankings first), so the
    result is the same on every run.
    """
    scores: dict[tuple[str, ...], float] = {}
    first_seen: dict[tuple[str, ...], Chunk] = {}
    for ranking in rankings:
        for rank, chunk in enumerate(by_best_score([ranking]), start=1):
            key = chunk.dedup_key
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(key, chunk)
    order = sorted(first_seen, key=lambda key: scores[key], reverse=True)
    return [first_seen[key].rescored(scores[key]) for key in order]


def fuse(rankings: Sequence[Sequence[Chunk]], method: str) -> list[Chunk]:
    """One ranking from several; a single ranking keeps its own scores."""
    if len(rankings) == 1:
        return by_best_score(rankings)
    if method == "rrf":
        return reciprocal_rank_fusion(rankings)
    return by_best_score(rankings)
