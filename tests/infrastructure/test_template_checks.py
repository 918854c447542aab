"""cfn-lint and cdk-nag over every synthesized template."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from model_config import DeploymentConfig
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.helper_configs import tgi_helper_scaling_to_zero, vllm_helper

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
# Every shipped config, and two with the optional helper component.
CHECKED: list[object] = [
    *SHIPPED_MODELS,
    pytest.param(vllm_helper, id="with-vllm-helper"),
    pytest.param(tgi_helper_scaling_to_zero, id="with-tgi-helper-scaling-to-zero"),
]


def config_of(model: str | Callable[[], DeploymentConfig]) -> str | DeploymentConfig:
    return model if isinstance(model, str) else model()


CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@pytest.mark.parametrize("model", CHECKED)
def test_cfn_lint_reports_no_error_or_warning(
    synth: Synth, model: str | Callable[[], DeploymentConfig]
) -> None:
    result = synth(config_of(model))
    templates = sorted(str(p) for p in result.outdir.glob("*.template.json"))
    assert templates
    run = subprocess.run([str(CFN_LINT), *templates], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("model", CHECKED)
def test_cdk_nag_passes_with_each_acknowledgement_explained(
    synth: Synth, model: str | Callable[[], DeploymentConfig]
) -> None:
    report = synth(config_of(model)).nag_report
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for finding in nag.get("suppressedViolations", []):
        # Acknowledged on one construct inside a stack, never for a whole stack or app.
        assert "/" in finding["acknowledgedAt"], finding
        if "-IAM" in finding["acknowledgedId"]:
            # IAM findings are acknowledged one resource or policy at a time.
            assert "[" in finding["acknowledgedId"], finding["acknowledgedId"]
        assert len(finding["reason"]) > 40, finding


def test_nag_report_is_valid_json_on_disk(synth: Synth) -> None:
    result = synth(SHIPPED_MODELS[0])
    assert json.loads((result.outdir / "validation-report.json").read_text())["pluginReports"]
