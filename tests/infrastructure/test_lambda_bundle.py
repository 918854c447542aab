"""The one test that builds the real Lambda package, through CDK's local bundling."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

from model_config import load_config
from model_config.runtime_env import rag_environment
from stacks import constants
from stacks.constructs.lambda_bundling import PackageTarget, build_package
from stacks.deployment import add_deployment

pytestmark = [pytest.mark.bundling, pytest.mark.xdist_group("bundle")]

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


@pytest.fixture(scope="module")
def lambda_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthesize the API stack with bundling on and return its Lambda asset folder."""
    outdir = tmp_path_factory.mktemp("cdk-bundled")
    config = load_config()
    app = cdk.App(
        outdir=str(outdir), context={"aws:cdk:bundling-stacks": [f"{constants.API_STACK}*"]}
    )
    add_deployment(app, config)
    assembly = app.synth()
    (api,) = [s for s in assembly.stacks if s.stack_name.startswith(constants.API_STACK)]
    (function,) = [
        r for r in api.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return outdir / f"asset.{asset_hash}"


def test_cdk_bundles_the_app_for_lambda_without_docker(lambda_asset: Path, tmp_path: Path) -> None:
    assert (lambda_asset / "rag_app" / "handler.py").is_file()
    # Linux arm64 wheels, not this machine's.
    assert list(lambda_asset.glob("pydantic_core/_pydantic_core.*aarch64*.so"))
    # The runtime's own boto3 is used (see README); tests and caches are pruned.
    assert not (lambda_asset / "boto3").exists()
    assert not list(lambda_asset.rglob("__pycache__"))
    assert not (lambda_asset / "numpy" / "_core" / "tests").exists()

    unzipped = tree_size(lambda_asset)
    archive = shutil.make_archive(str(tmp_path / "lambda"), "zip", lambda_asset)
    zipped = Path(archive).stat().st_size
    print(f"\nLambda package: {mib(zipped)} zipped, {mib(unzipped)} unzipped")
    assert unzipped < LAMBDA_UNZIPPED_LIMIT * 0.8


def test_handler_imports_from_a_bundle_in_a_clean_interpreter(tmp_path: Path) -> None:
    """Built for this machine's platform, imported with no site-packages at all."""
    bundle = tmp_path / "bundle"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_package(bundle, PackageTarget(python_version=version, platform_tags=()))
    env = {
        **rag_environment(load_config()),
        "RAG_QDRANT_PATH": str(tmp_path / "qdrant"),
        "AWS_REGION": "us-east-1",
        "PATH": os.environ["PATH"],
        "POWERTOOLS_METRICS_NAMESPACE": "LlmTwin",
    }
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import rag_app.handler as h\n"
        "print(type(h.handler).__name__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(bundle)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Mangum"
