"""Retrieval quality on document ids with ranx: hit rate, recall, MRR and nDCG at the
request's k (the API's ranked list is already cut at k)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from numba.core.errors import NumbaTypeSafetyWarning
from ranx import Qrels, Run, evaluate

from evaluation.client import Retrieved
from evaluation.question_set import Question

# Report name -> ranx metric name.
METRICS = {"hit_rate@k": "hit_rate", "recall@k": "recall", "mrr": "mrr", "ndcg@k": "ndcg"}


def document_ranking(retrieved: Sequence[Retrieved]) -> list[str]:
    """Document ids in rank order, each at its first chunk's rank; chunks without one dropped."""
    ranking: list[str] = []
    for item in sorted(retrieved, key=lambda point: point.rank):
        if item.document_id and item.document_id not in ranking:
            ranking.append(item.document_id)
    return ranking


def retrieval_scores(
    questions: Sequence[Question], rankings: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    """metric -> question id -> score, for the answerable questions in `rankings`."""
    scored = [q for q in questions if q.answerable and q.id in rankings]
    scores: dict[str, dict[str, float]] = {name: {} for name in METRICS}
    if not scored:
        return scores
    # ranx wants a non-empty ranking per query: an empty one scores 0 on every metric.
    ranked = [q for q in scored if rankings[q.id]]
    for question in scored:
        if not rankings[question.id]:
            for name in METRICS:
                scores[name][question.id] = 0.0
    if not ranked:
        return scores
    qrels = Qrels({q.id: dict.fromkeys(q.relevant_ids, 1) for q in ranked})
    # Scores only order the documents: the first ranked gets the highest.
    run = Run(
        {
            q.id: {doc: float(len(rankings[q.id]) - i) for i, doc in enumerate(rankings[q.id])}
            for q in ranked
        }
    )
    with warnings.catch_warnings():
        # ranx's compiled kernels cast the relevance counts; harmless for 0/1 labels.
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        evaluate(qrels, run, list(METRICS.values()), return_mean=True)
    for name, ranx_name in METRICS.items():
        for question in ranked:
            scores[name][question.id] = float(run.scores[ranx_name][question.id])
    return scores
