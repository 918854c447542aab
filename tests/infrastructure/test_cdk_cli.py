"""The pinned CDK CLI synthesizes the app offline, picking the config from context."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from model_config import load_config
from stacks import constants
from stacks.deployment import stack_suffix

pytestmark = pytest.mark.xdist_group("cli")

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="run `make install` for the pinned CDK CLI")
def test_cdk_cli_synthesizes_the_chosen_config_without_aws(tmp_path: Path) -> None:
    config = load_config("smollm2-1.7b")
    stack = f"{constants.INFERENCE_STACK}{stack_suffix(config)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    run = subprocess.run(
        [str(CDK), "synth", stack, "--exclusively", "--quiet", "-c", f"model={config.name}",
         "--output", str(tmp_path / "cdk.out")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    template = json.loads((tmp_path / "cdk.out" / f"{stack}.template.json").read_text())
    names = {
        r["Properties"].get("InferenceComponentName")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SageMaker::InferenceComponent"
    }
    assert names == {config.names.llm_component, config.names.embedding_component}
