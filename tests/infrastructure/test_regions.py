"""Deployable regions: inference components and the Web Adapter layer, checked at synth."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stacks import constants
from stacks.constructs.lambda_web_adapter import LAYER_REGIONS
from stacks.constructs.region_guard import DEPLOYABLE_REGIONS, INFERENCE_COMPONENT_REGIONS
from tests.infrastructure.conftest import Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
ROOT = Path(__file__).resolve().parents[2]


def test_allow_list_is_where_both_the_component_and_the_layer_exist() -> None:
    assert set(DEPLOYABLE_REGIONS) == set(INFERENCE_COMPONENT_REGIONS) & set(LAYER_REGIONS)
    # The adapter stopped publishing to me-central-1 with v1.0.1.
    assert "me-central-1" in INFERENCE_COMPONENT_REGIONS
    assert "me-central-1" not in DEPLOYABLE_REGIONS
    assert len(DEPLOYABLE_REGIONS) == 15


@pytest.mark.parametrize("region", ["eu-west-3", "us-west-1", "af-south-1", "me-central-1"])
def test_synth_for_a_region_that_cannot_host_it_fails_naming_the_region(
    synth: Synth, region: str
) -> None:
    with pytest.raises(ValueError, match=f"region {region} cannot host this deployment"):
        synth("smollm2-1.7b", region=region)


def test_region_agnostic_stacks_both_check_the_region_at_deploy_time(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    for stack in (constants.INFERENCE_STACK, constants.API_STACK):
        (assertion,) = result.template_json(stack)["Rules"]["DeployableRegion"]["Assertions"]
        assert assertion["Assert"] == {
            "Fn::Contains": [list(DEPLOYABLE_REGIONS), {"Ref": "AWS::Region"}]
        }
        assert "eu-west-2" in assertion["AssertDescription"]


def test_readme_lists_exactly_the_deployable_regions() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("Deployable regions:"))
    listed = [part.strip(" `.") for part in line.split(":", 1)[1].split(",")]
    assert listed == list(DEPLOYABLE_REGIONS)


def test_cdk_app_exits_with_the_region_in_its_message(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_DEFAULT_REGION": "eu-west-3", "CDK_OUTDIR": str(tmp_path)}
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    run = subprocess.run(
        [sys.executable, "app.py"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert run.returncode == 1
    assert "region error: region eu-west-3 cannot host this deployment" in run.stderr
