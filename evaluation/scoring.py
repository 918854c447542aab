"""Per-question scores of every variant, and each variant's comparison with the baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluation import answer_metrics as answers
from evaluation.client import Outcome
from evaluation.question_set import Question
from evaluation.retrieval_metrics import METRICS as RETRIEVAL_METRICS
from evaluation.retrieval_metrics import document_ranking, retrieval_scores
from evaluation.stats import Interval, mean_interval, paired_difference

# Metrics where a lower value is better; every other metric is better higher.
LOWER_IS_BETTER_PREFIXES = ("latency", "ttft", "false_decline", "fell_back")
ANSWER_METRICS = ("key_fact_recall", "cites_labelled", "declines_unanswerable", "false_decline")
JUDGE_METRICS = ("faithfulness", "relevance")

# metric -> question id -> score
Scores = dict[str, dict[str, float]]


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER_PREFIXES)


def score_variant(
    questions: Sequence[Question],
    outcomes: Sequence[Outcome],
    judged: dict[str, dict[str, float]] | None = None,
) -> Scores:
    """One variant's outcomes scored per question (questions with an error are left out)."""
    ok = {o.question_id: o for o in outcomes if o.error is None}
    rankings = {qid: document_ranking(o.retrieved) for qid, o in ok.items()}
    scores: Scores = retrieval_scores(questions, rankings)
    for question in questions:
        outcome = ok.get(question.id)
        if outcome is None:
            continue
        if outcome.answer is not None:
            _score_answer(scores, question, outcome)
        _score_retrieval_choices(scores, question.id, outcome)
        _score_latency(scores, question.id, outcome)
    for metric, by_question in (judged or {}).items():
        scores[metric] = {qid: v for qid, v in by_question.items() if qid in ok}
    return {metric: values for metric, values in scores.items() if values}


def _score_answer(scores: Scores, question: Question, outcome: Outcome) -> None:
    answer = outcome.answer or ""
    declined = answers.declines(answer)
    if not question.answerable:
        scores.setdefault("declines_unanswerable", {})[question.id] = float(declined)
        return
    cited = answers.cites_labelled([s.document_id for s in outcome.sources], question.relevant_ids)
    scores.setdefault("cites_labelled", {})[question.id] = float(cited)
    recall = answers.key_fact_recall(answer, question.key_facts)
    if recall is not None:
        scores.setdefault("key_fact_recall", {})[question.id] = recall
    # "No information about the other dates" after the right number is an answer, not a decline.
    scores.setdefault("false_decline", {})[question.id] = float(declined and not recall)


def _score_retrieval_choices(scores: Scores, question_id: str, outcome: Outcome) -> None:
    """How often a retrieval step fell back (e.g. an expansion that timed out) and how often
    the search was filtered on an author: a technique that never ran cannot help."""
    if outcome.retrieval is None:
        return
    fallbacks = outcome.retrieval.get("fallbacks") or []
    scores.setdefault("fell_back", {})[question_id] = float(bool(fallbacks))
    author = outcome.retrieval.get("author") or {}
    scores.setdefault("author_filtered", {})[question_id] = float(bool(author.get("filtered")))


def _score_latency(scores: Scores, question_id: str, outcome: Outcome) -> None:
    scores.setdefault("latency_ms.client", {})[question_id] = outcome.client_ms
    if outcome.ttft_ms is not None:
        scores.setdefault("ttft_ms", {})[question_id] = outcome.ttft_ms
    for step, ms in outcome.latency_ms.items():
        scores.setdefault(f"latency_ms.{step}", {})[question_id] = ms


def metric_order(metrics: set[str]) -> list[str]:
    """Retrieval, answer, judge, then latency metrics; the per-step latencies by name."""
    fixed = [
        *RETRIEVAL_METRICS,
        *ANSWER_METRICS,
        *JUDGE_METRICS,
        "fell_back",
        "author_filtered",
        "ttft_ms",
        "latency_ms.client",
    ]
    first = [m for m in fixed if m in metrics]
    return first + sorted(metrics - set(first))


@dataclass(frozen=True)
class Comparison:
    """A variant's metric next to the baseline's, on the questions both scored."""

    value: Interval
    difference: Interval | None
    flag: str  # "worse", "better" or ""


def compare(baseline: Scores, variant: Scores, metric: str, seed: int = 0) -> Comparison:
    """The variant's mean with its interval, and its paired difference from the baseline."""
    mine = variant.get(metric, {})
    value = mean_interval(list(mine.values()), seed)
    theirs = baseline.get(metric, {})
    shared = sorted(set(mine) & set(theirs))
    if baseline is variant or not shared:
        return Comparison(value, None, "")
    difference = paired_difference([theirs[q] for q in shared], [mine[q] for q in shared], seed)
    flag = ""
    if difference.excludes_zero():
        got_lower = difference.high < 0
        flag = "worse" if got_lower != lower_is_better(metric) else "better"
    return Comparison(value, difference, flag)
