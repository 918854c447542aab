"""The comparison table, in the terminal and as Markdown, JSON and a PNG chart."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from evaluation.question_set import Question
from evaluation.scoring import Comparison, Scores, compare, lower_is_better, metric_order
from evaluation.variants import Variant

BY_KIND_METRICS = ("hit_rate@k", "mrr", "key_fact_recall", "declines_unanswerable")
MARKS = {"worse": " ▼", "better": " ▲", "": ""}


def comparisons(
    variants: list[Variant], scores: dict[str, Scores], seed: int = 0
) -> dict[str, dict[str, Comparison]]:
    """metric -> variant name -> comparison with the first variant (the baseline)."""
    baseline = scores[variants[0].name]
    metrics = metric_order({m for s in scores.values() for m in s})
    return {
        metric: {v.name: compare(baseline, scores[v.name], metric, seed) for v in variants}
        for metric in metrics
    }


def _number(value: float, metric: str) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if metric.startswith(("latency", "ttft")) else f"{value:.3f}"


def _cell(comparison: Comparison, metric: str) -> str:
    value = comparison.value
    text = f"{_number(value.mean, metric)} [{_number(value.low, metric)}, {_number(value.high, metric)}]"
    if comparison.difference is not None:
        diff = comparison.difference
        sign = "+" if diff.mean >= 0 else ""
        text += f" ({sign}{_number(diff.mean, metric)}){MARKS[comparison.flag]}"
    return text


def markdown(variants: list[Variant], table: dict[str, dict[str, Comparison]]) -> str:
    """Mean [95 % CI] per metric and variant; (difference from the baseline), ▼ if worse
    beyond its paired interval, ▲ if better."""
    names = [v.name for v in variants]
    lines = [
        "| metric | n | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for metric, row in table.items():
        n = row[names[0]].value.n
        lines.append(
            f"| {metric} | {n} | " + " | ".join(_cell(row[x], metric) for x in names) + " |"
        )
    return "\n".join(lines)


def by_kind(
    questions: list[Question], variants: list[Variant], scores: dict[str, Scores]
) -> dict[str, dict[str, dict[str, float]]]:
    """metric -> kind -> variant -> mean, for the quality metrics: where a technique helps."""
    kinds = sorted({q.kind for q in questions if q.kind})
    table: dict[str, dict[str, dict[str, float]]] = {}
    for metric in BY_KIND_METRICS:
        for kind in kinds:
            ids = {q.id for q in questions if q.kind == kind}
            row = {}
            for variant in variants:
                values = [
                    v for qid, v in scores[variant.name].get(metric, {}).items() if qid in ids
                ]
                if values:
                    row[variant.name] = sum(values) / len(values)
            if row:
                table.setdefault(metric, {})[kind] = row
    return table


def kind_markdown(variants: list[Variant], table: dict[str, dict[str, dict[str, float]]]) -> str:
    names = [v.name for v in variants]
    lines = ["| metric | kind | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for metric, rows in table.items():
        for kind, row in rows.items():
            cells = " | ".join(f"{row[n]:.3f}" if n in row else "-" for n in names)
            lines.append(f"| {metric} | {kind} | {cells} |")
    return "\n".join(lines)


def flagged(table: dict[str, dict[str, Comparison]]) -> list[str]:
    """`variant: metric` for every metric a variant made worse beyond its interval."""
    return [
        f"{name}: {metric} ({'higher' if lower_is_better(metric) else 'lower'})"
        for metric, row in table.items()
        for name, comparison in row.items()
        if comparison.flag == "worse"
    ]


def chart(variants: list[Variant], table: dict[str, dict[str, Comparison]], path: Path) -> None:
    """Quality metrics (0..1) and latencies side by side, one bar per variant, 95 % CI whiskers."""
    quality = [m for m in table if not m.startswith(("latency", "ttft"))]
    timing = [m for m in table if m.startswith(("latency", "ttft"))]
    panels = [(quality, "score (mean, 95 % CI)"), (timing, "milliseconds (mean, 95 % CI)")]
    panels = [(metrics, label) for metrics, label in panels if metrics]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 4.5 * len(panels)), squeeze=False)
    width = 0.8 / len(variants)
    for axis, (metrics, label) in zip(axes[:, 0], panels, strict=True):
        for i, variant in enumerate(variants):
            values = [table[m][variant.name].value for m in metrics]
            means = [0.0 if math.isnan(v.mean) else v.mean for v in values]
            errors = [
                [max(0.0, v.mean - v.low) if not math.isnan(v.low) else 0.0 for v in values],
                [max(0.0, v.high - v.mean) if not math.isnan(v.high) else 0.0 for v in values],
            ]
            positions = [x + (i - (len(variants) - 1) / 2) * width for x in range(len(metrics))]
            axis.bar(positions, means, width, yerr=errors, capsize=3, label=variant.name)
        axis.set_xticks(range(len(metrics)), metrics, rotation=20, ha="right")
        axis.set_ylabel(label)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(
    folder: Path,
    variants: list[Variant],
    table: dict[str, dict[str, Comparison]],
    details: dict[str, Any],
    kinds: dict[str, dict[str, dict[str, float]]] | None = None,
) -> dict[str, Path]:
    """results.md, results.json and results.png in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"results.{kind}" for kind in ("md", "json", "png")}
    body = markdown(variants, table)
    worse = flagged(table)
    notes = (
        "\n".join(f"- ▼ {line}" for line in worse) or "- no metric got worse beyond its interval"
    )
    paths["md"].write_text(
        f"# Evaluation {details.get('started', '')}\n\n{details.get('summary', '')}\n\n"
        f"Mean [95 % bootstrap CI]; (difference from `{variants[0].name}`), ▼ worse / ▲ better "
        f"beyond the paired interval.\n\n{body}\n\n{notes}\n"
        + (f"\n## Means by question kind\n\n{kind_markdown(variants, kinds)}\n" if kinds else ""),
        encoding="utf-8",
    )
    summary = {
        metric: {name: asdict(c) for name, c in row.items()} for metric, row in table.items()
    }
    paths["json"].write_text(
        json.dumps(
            {**details, "metrics": summary, "by_kind": kinds or {}, "flagged": worse},
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    chart(variants, table, paths["png"])
    return paths
