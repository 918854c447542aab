"""`python -m capacity.loadtest --url URL`: stepped-concurrency load test of the RAG API.

The API key, if any, comes from the CAPACITY_API_KEY environment variable (`make loadtest
KEY=...` sets it) so it never shows in a process list. Writes loadtest.csv and loadtest.png
under one folder and prints the knee.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from capacity.loadtest import chart, stats
from capacity.loadtest.probe import ProbeError, base_url, probe, warm_up
from capacity.loadtest.runner import LoadPlan, LocustError, run_step
from capacity.paths import QUESTIONS_FILE, run_dir

ROUTES = ("rag", "chat", "all")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m capacity.loadtest",
        description="Stepped-concurrency load test of the RAG API with Locust.",
    )
    parser.add_argument(
        "--url",
        required=True,
        help="API root or the RagApiUrl output (…/rag); local: http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--steps",
        default="1,2,4,8",
        help="concurrent requests per step, comma-separated (default 1,2,4,8)",
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds per step (default 30)")
    parser.add_argument(
        "--slo-p95", type=float, default=15.0, help="p95 latency objective in seconds (default 15)"
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="LLM copies serving during the test (pin min = max copies while testing)",
    )
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS_FILE, help="one question per line"
    )
    parser.add_argument("--max-new-tokens", type=int, help="cap per request (default: the API's)")
    parser.add_argument(
        "--chat-share",
        type=float,
        default=0.5,
        help="share of streamed chat requests when the chat route exists (default 0.5)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed requests first (default 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, s")
    parser.add_argument("--out", type=Path, help="output folder (default: .local/capacity/<run>)")
    args = parser.parse_args(argv)
    try:
        args.steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--steps takes whole numbers separated by commas, got {args.steps!r}")
    if not args.steps or args.steps[0] < 1:
        parser.error("--steps needs at least one concurrency of 1 or more")
    if args.duration < 1 or args.copies < 1 or not 0 <= args.chat_share <= 1:
        parser.error("--duration and --copies must be positive, --chat-share within 0..1")
    return args


def load_questions(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ProbeError(f"cannot read questions file {path}: {err.strerror}") from None
    questions = tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    if not questions:
        raise ProbeError(f"{path} holds no questions (one per line, # for comments)")
    return questions


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = base_url(args.url)
    api_key = os.environ.get("CAPACITY_API_KEY", "")
    try:
        questions = load_questions(args.questions)
        info = probe(url, api_key)
        print(f"{url}: model {info.model_id or '?'}; {info.chat_note}")
        warm_up(url, api_key, questions[0], args.max_new_tokens, args.warmup)
    except ProbeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    out = run_dir("loadtest", urlparse(url).netloc, args.out)
    plan = LoadPlan(
        url=url,
        api_key=api_key,
        questions=questions,
        max_new_tokens=args.max_new_tokens,
        chat_share=args.chat_share if info.chat_available else 0.0,
        model_id=info.model_id,
        duration_s=args.duration,
        request_timeout_s=args.timeout,
        out=out,
    )
    routes = ROUTES if info.chat_available else ("rag", "all")
    rows: list[stats.StepStats] = []
    for step, concurrency in enumerate(args.steps, 1):
        print(f"step {step}: {concurrency} concurrent for {args.duration} s ...", flush=True)
        try:
            records = run_step(plan, step, concurrency)
        except LocustError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for route in routes:
            row = stats.step_stats(
                records,
                step=step,
                concurrency=concurrency,
                copies=args.copies,
                duration_s=args.duration,
                route=route,
            )
            rows.append(row)
            if route == "all" or len(routes) > 2:
                print(
                    f"  {route:4s} {row.ok}/{row.requests} ok, {row.throughput_rps:.2f} req/s, "
                    f"p50 {_s(row.p50_s)} p95 {_s(row.p95_s)} p99 {_s(row.p99_s)}"
                    + (f", ttft p95 {_s(row.ttft_p95_s)}" if row.ttft_p95_s is not None else "")
                    + (f", errors {row.error_codes}" if row.errors else "")
                )

    csv_path = out / "loadtest.csv"
    stats.write_csv(csv_path, rows)
    best = stats.knee(rows, args.slo_p95)
    png = chart.draw(
        out / "loadtest.png",
        rows,
        title=f"{url}, {args.copies} copies, {args.duration} s per step",
        p95_objective_s=args.slo_p95,
        knee=best,
    )
    if best is None:
        print(
            f"Knee: none; even {_requests(args.steps[0] / args.copies)} per copy "
            f"missed the {args.slo_p95:g} s p95 objective or failed over "
            f"{stats.MAX_ERROR_SHARE:.0%} of requests"
        )
    else:
        print(
            f"Knee: {_requests(best.concurrency_per_copy)} per copy "
            f"(p95 {_s(best.p95_s)} within {args.slo_p95:g} s, {best.throughput_rps:.2f} req/s); "
            f"use it as target_concurrent_requests_per_copy or below"
        )
    print(f"wrote {csv_path} and {png}")
    print(f"simulate with it: make capacity SERVICE={csv_path}")
    return 0


def _requests(count: float) -> str:
    return f"{count:g} concurrent request{'' if count == 1 else 's'}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


if __name__ == "__main__":
    sys.exit(main())
