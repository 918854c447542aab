"""The pinned CDK CLI synthesizes the app offline, picking the config from context."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from model_config import load_config
from stacks import constants
from stacks.deployment import stack_suffix
from tests.infrastructure.helper_configs import tgi_helper_scaling_to_zero

pytestmark = pytest.mark.xdist_group("cli")

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def cli_synth(model: str, stack: str, outdir: Path) -> dict:
    """`cdk synth -c model=<model>` of one stack, with no AWS credentials at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    run = subprocess.run(
        [str(CDK), "synth", stack, "--exclusively", "--quiet", "-c", f"model={model}",
         "--output", str(outdir)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    template: dict = json.loads((outdir / f"{stack}.template.json").read_text())
    return template


def component_names(template: dict) -> set[str]:
    return {
        r["Properties"].get("InferenceComponentName")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SageMaker::InferenceComponent"
    }


@pytest.mark.skipif(not CDK.exists(), reason="run `make install` for the pinned CDK CLI")
def test_cdk_cli_synthesizes_the_chosen_config_without_aws(tmp_path: Path) -> None:
    config = load_config("smollm2-1.7b")
    stack = f"{constants.INFERENCE_STACK}{stack_suffix(config)}"

    template = cli_synth(config.name, stack, tmp_path / "cdk.out")

    assert component_names(template) == {
        config.names.llm_component,
        config.names.embedding_component,
    }


@pytest.mark.skipif(not CDK.exists(), reason="run `make install` for the pinned CDK CLI")
def test_cdk_cli_synthesizes_a_config_file_of_ones_own(tmp_path: Path) -> None:
    # A file outside model_config/, with a helper component; its name is the config's.
    config = tgi_helper_scaling_to_zero().model_copy(update={"name": "my-twin"})
    own = tmp_path / "my-twin.yaml"
    own.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    stack = f"{constants.INFERENCE_STACK}{stack_suffix(config)}"

    template = cli_synth(str(own), stack, tmp_path / "cdk.out")

    assert component_names(template) == {"my-twin-llm", "my-twin-embedding", "my-twin-helper"}
