"""The comparison written as Markdown, JSON and PNG in one folder."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.report import by_kind, comparisons, flagged, kind_markdown, markdown, write
from evaluation.scoring import score_variant
from evaluation.variants import Variant, parse_variant
from tests.unit.evaluation.support import outcome, question


def test_a_worse_variant_is_flagged_in_every_output(tmp_path: Path) -> None:
    questions = [question(f"q{i}", ["A"]) for i in range(12)]
    chosen = [Variant("default"), parse_variant("k=1")]
    scores = {
        "default": score_variant(questions, [outcome(q.id, ["A", "B"]) for q in questions]),
        "k=1": score_variant(questions, [outcome(q.id, ["B"], variant="k=1") for q in questions]),
    }
    table = comparisons(chosen, scores)
    assert list(table)[:4] == ["hit_rate@k", "recall@k", "mrr", "ndcg@k"]
    assert "k=1: mrr (lower)" in flagged(table)
    text = markdown(chosen, table)
    assert "| mrr | 12 | 1.000 [1.000, 1.000] | 0.000 [0.000, 0.000] (-1.000) ▼ |" in text

    paths = write(tmp_path / "out", chosen, table, {"started": "now", "summary": "tiny"})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "results.json",
        "results.md",
        "results.png",
    ]
    assert "▼ k=1: mrr (lower)" in paths["md"].read_text()
    saved = json.loads(paths["json"].read_text())
    assert saved["metrics"]["mrr"]["k=1"]["difference"]["mean"] == -1.0
    assert saved["metrics"]["mrr"]["k=1"]["flag"] == "worse"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_means_by_kind_show_where_a_variant_helps() -> None:
    author = question("a1", ["A"]).model_copy(update={"kind": "author"})
    single = question("s1", ["A"])
    chosen = [Variant("default"), parse_variant("self_query=on")]
    scores = {
        "default": score_variant(
            [author, single], [outcome("a1", ["B", "A"]), outcome("s1", ["A"])]
        ),
        "self_query=on": score_variant(
            [author, single], [outcome("a1", ["A"]), outcome("s1", ["A"])]
        ),
    }
    kinds = by_kind([author, single], chosen, scores)
    assert kinds["mrr"] == {
        "author": {"default": 0.5, "self_query=on": 1.0},
        "single": {"default": 1.0, "self_query=on": 1.0},
    }
    assert "| mrr | author | 0.500 | 1.000 |" in kind_markdown(chosen, kinds)
