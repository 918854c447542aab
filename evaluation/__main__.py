"""`python -m evaluation`: score retrieval and answers on a labelled question set, one variant
against another.

With --url it evaluates that API (key from $EVAL_API_KEY); without, it ingests the evaluation
corpus into its own store, starts the local stack on free ports and stops it afterwards.
Judge mode runs when $JUDGE_URL is set (key from $JUDGE_API_KEY, model from $JUDGE_MODEL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import openai

from evaluation import judge as judging
from evaluation.client import ApiClient, EvalError, Outcome, run_all
from evaluation.local_stack import (
    EVAL_CORPUS,
    EVAL_STORE,
    LocalModeError,
    ensure_store,
    local_stack,
)
from evaluation.question_set import DEFAULT_SET, Question, QuestionSetError, load_questions
from evaluation.report import by_kind, comparisons, flagged, kind_markdown, markdown, write
from evaluation.retrieval_metrics import document_ranking
from evaluation.scoring import Scores, score_variant
from evaluation.variants import Variant, VariantError, variants
from local.settings import REPO_ROOT
from model_config import ConfigError, load_config

API_KEY_ENV = "EVAL_API_KEY"
DEFAULT_MODEL = "smollm2-1.7b"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    parser.add_argument("--url", help="a running API (default: start the local stack)")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="question set (JSONL)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="local mode's model config (a name, or the path of a YAML config)",
    )
    parser.add_argument("--corpus", type=Path, default=EVAL_CORPUS, help="documents to ingest")
    parser.add_argument("--store", type=Path, default=EVAL_STORE, help="local mode's store")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="request options to compare with the default (k, query_expansion, self_query, "
        "fusion, rerank); repeatable",
    )
    parser.add_argument(
        "--retrieval-only", action="store_true", help="score retrieval only: no LLM generation"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    parser.add_argument("--max-tokens", type=int, default=96, help="answer length bound")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument(
        "--kind", action="append", default=[], help="only questions of this kind (repeatable)"
    )
    parser.add_argument(
        "--helper-timeout-s",
        type=float,
        help="local mode: deadline of the expansion and self-query calls (default: config's)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: .local/eval/<time>)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


@contextmanager
def api_url(args: argparse.Namespace, out: Path) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    try:
        load_config(args.model)
        qdrant_path = ensure_store(args.corpus.resolve(), args.store.resolve(), args.model)
        print(f"starting the local stack ({args.model}); its log: {out / 'stack.log'}")
        with local_stack(args.model, qdrant_path, out / "stack.log", args.helper_timeout_s) as url:
            yield url
    except (ConfigError, LocalModeError) as err:
        fail(str(err))


async def ask_all(
    url: str, questions: list[Question], chosen: list[Variant], args: argparse.Namespace
) -> list[Outcome]:
    client = ApiClient(url, os.environ.get(API_KEY_ENV, ""), max_tokens=args.max_tokens)
    try:
        ask = client.retrieve if args.retrieval_only else client.answer
        return await run_all(
            ask, questions, chosen, concurrency=args.concurrency, progress=not args.quiet
        )
    finally:
        await client.aclose()


async def judge_all(
    questions: list[Question], outcomes: list[Outcome], args: argparse.Namespace
) -> dict[str, dict[str, dict[str, float]]]:
    """variant -> metric -> question id -> judge score, for every answer the judge could read."""
    client = openai.AsyncOpenAI(
        base_url=os.environ[judging.JUDGE_URL_ENV],
        api_key=os.environ.get(judging.JUDGE_KEY_ENV) or "none",
        max_retries=2,
    )
    model = os.environ.get(judging.JUDGE_MODEL_ENV)
    if not model:
        try:
            listed = (await client.models.list()).data
        except openai.APIError as err:
            fail(f"the judge at ${judging.JUDGE_URL_ENV} cannot list its models: {err}")
        if not listed:
            fail(f"the judge lists no model: set ${judging.JUDGE_MODEL_ENV}")
        model = listed[0].id
    judge = judging.Judge(client, model, judging.chunk_texts(args.corpus))
    by_id = {q.id: q for q in questions}
    gate = asyncio.Semaphore(args.concurrency)
    results: dict[str, dict[str, dict[str, float]]] = {}
    unread = 0

    async def one(outcome: Outcome) -> None:
        nonlocal unread
        async with gate:
            try:
                verdict = await judge.grade(
                    by_id[outcome.question_id].question,
                    outcome.answer or "",
                    [s.point_id for s in outcome.sources],
                )
            except (judging.JudgeError, openai.APIError) as err:
                unread += 1
                print(f"judge: {outcome.variant}/{outcome.question_id}: {err}", file=sys.stderr)
                return
        for metric, score in verdict.scores().items():
            results.setdefault(outcome.variant, {}).setdefault(metric, {})[outcome.question_id] = (
                score
            )

    try:
        await asyncio.gather(
            *(one(o) for o in outcomes if o.error is None and o.answer is not None)
        )
    finally:
        await client.close()
    if unread:
        print(f"judge: {unread} answers left unscored", file=sys.stderr)
    return results


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    record = asdict(outcome)
    record["retrieved_documents"] = document_ranking(outcome.retrieved)
    record["source_documents"] = [s.document_id for s in outcome.sources]
    del record["retrieved"], record["sources"]
    return record


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = datetime.now(UTC)
    try:
        questions = load_questions(args.set)
        chosen = variants(args.variant)
    except (QuestionSetError, VariantError) as err:
        fail(str(err))
    if args.kind:
        questions = [q for q in questions if q.kind in args.kind]
    if args.limit:
        questions = questions[: args.limit]
    if not questions:
        fail("no question left to ask after --kind and --limit")
    out = args.out or REPO_ROOT / ".local" / "eval" / started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    judge_on = bool(os.environ.get(judging.JUDGE_URL_ENV)) and not args.retrieval_only
    with api_url(args, out) as url:
        print(
            f"{len(questions)} questions x {len(chosen)} variants against {url}"
            + (" (retrieval only)" if args.retrieval_only else "")
        )
        try:
            outcomes = asyncio.run(ask_all(url, questions, chosen, args))
        except EvalError as err:
            fail(str(err))
    judged = asyncio.run(judge_all(questions, outcomes, args)) if judge_on else {}
    errors = [o for o in outcomes if o.error is not None]
    for outcome in errors[:10]:
        print(f"{outcome.variant}/{outcome.question_id}: {outcome.error}", file=sys.stderr)
    if len(errors) == len(outcomes):
        fail("every request failed; nothing to score")
    scores: dict[str, Scores] = {
        v.name: score_variant(
            questions, [o for o in outcomes if o.variant == v.name], judged.get(v.name)
        )
        for v in chosen
    }
    table = comparisons(chosen, scores, args.seed)
    summary = (
        f"{len(questions)} questions from `{args.set}`, "
        f"{'retrieval only' if args.retrieval_only else 'answers'}"
        f"{' and judge' if judge_on else ''}, {len(errors)} failed requests; "
        f"API: {args.url or f'local mode, config {args.model}'}."
    )
    details = {
        "started": started.isoformat(timespec="seconds"),
        "summary": summary,
        "url": args.url or "local",
        "model": None if args.url else args.model,
        "set": str(args.set),
        "retrieval_only": args.retrieval_only,
        "judge": judge_on,
        "variants": [asdict(v) for v in chosen],
        "scores": scores,
        "outcomes": [outcome_record(o) for o in outcomes],
    }
    kinds = by_kind(questions, chosen, scores)
    paths = write(out, chosen, table, details, kinds)
    print(f"\n{summary}\n\n{markdown(chosen, table)}\n\n{kind_markdown(chosen, kinds)}\n")
    for line in flagged(table):
        print(f"worse beyond its interval: {line}")
    print(f"written: {', '.join(str(p) for p in paths.values())}")


if __name__ == "__main__":
    main()
