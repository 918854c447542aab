"""`cdk destroy` removes every resource except the ones the README names and justifies."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## What `cdk destroy` leaves behind"
KEPT_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}


def retained_types_in_readme() -> set[str]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md needs a '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `(AWS::[A-Za-z0-9:]+)`", section, flags=re.MULTILINE))


def retained_resources(result: Synthesized) -> set[str]:
    kept = set()
    for template in result.templates.values():
        for resource in template["Resources"].values():
            policies = {resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")}
            if policies & KEPT_POLICIES:
                kept.add(resource["Type"])
    return kept


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_only_readme_listed_resources_survive_destroy(synth: Synth, model: str) -> None:
    allowed = retained_types_in_readme()
    assert retained_resources(synth(model)) <= allowed


def test_readme_list_is_not_stale(synth: Synth) -> None:
    kept = set().union(*(retained_resources(synth(model)) for model in SHIPPED_MODELS))
    assert retained_types_in_readme() == kept


def test_nothing_billable_is_retained(synth: Synth) -> None:
    billable = ("AWS::SageMaker::", "AWS::Logs::LogGroup", "AWS::Lambda::", "AWS::S3::")
    for model in SHIPPED_MODELS:
        kept = retained_resources(synth(model))
        assert not [t for t in kept if t.startswith(billable)], kept
