"""Synthesizes each deployment once per test session and shares the templates."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from model_config import DeploymentConfig, available_models, load_config
from stacks.deployment import add_deployment

SHIPPED_MODELS = available_models()


@dataclass(frozen=True)
class Synthesized:
    """One synthesized deployment: its config, templates and the cdk-nag report."""

    config: DeploymentConfig
    outdir: Path
    templates: dict[str, dict]
    nag_report: dict

    def template(self, stack_prefix: str) -> Template:
        return Template.from_json(self.template_json(stack_prefix))

    def template_json(self, stack_prefix: str) -> dict:
        matches = [name for name in self.templates if name.startswith(stack_prefix)]
        assert len(matches) == 1, f"expected one {stack_prefix} stack, found {matches}"
        return self.templates[matches[0]]


def synthesize(
    config: DeploymentConfig, outdir: Path, env: cdk.Environment | None = None
) -> Synthesized:
    # An empty bundling list skips Lambda bundling: only test_lambda_bundle builds it.
    app = cdk.App(outdir=str(outdir), context={"aws:cdk:bundling-stacks": []})
    add_deployment(app, config, env=env)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synthesized(config, outdir, templates, report)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    """Synthesize (config, region) once; later calls with the same key reuse it."""
    cache: dict[tuple[str, str | None], Synthesized] = {}

    def _synth(config: DeploymentConfig | str, region: str | None = None) -> Synthesized:
        if isinstance(config, str):
            config = load_config(config)
        key = (config.model_dump_json(), region)
        if key not in cache:
            env = cdk.Environment(account="123456789012", region=region) if region else None
            outdir = tmp_path_factory.mktemp(f"cdk-{config.resource_prefix}")
            cache[key] = synthesize(config, outdir, env)
        return cache[key]

    return _synth
