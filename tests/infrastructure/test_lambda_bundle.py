"""The one test that builds the real Lambda package, through CDK's local bundling."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest

from model_config import load_config
from model_config.runtime_env import rag_environment
from stacks import constants
from stacks.constructs.lambda_bundling import START_SCRIPT, PackageTarget, build_package
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
    functions = {
        r["Properties"]["Handler"]: r["Properties"]
        for r in api.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    mangum, streaming = functions["rag_app.handler.handler"], functions[START_SCRIPT]
    # Both frontends run the very same package.
    assert mangum["Code"] == streaming["Code"]
    asset_hash = mangum["Code"]["S3Key"].removesuffix(".zip")
    return outdir / f"asset.{asset_hash}"


def test_cdk_bundles_the_app_for_lambda_without_docker(lambda_asset: Path, tmp_path: Path) -> None:
    assert (lambda_asset / "rag_app" / "handler.py").is_file()
    # Linux arm64 wheels, not this machine's.
    assert list(lambda_asset.glob("pydantic_core/_pydantic_core.*aarch64*.so"))
    # The runtime's own boto3 is used (see README); tests and caches are pruned.
    assert not (lambda_asset / "boto3").exists()
    assert not list(lambda_asset.rglob("__pycache__"))
    assert not (lambda_asset / "numpy" / "_core" / "tests").exists()
    # The Web Adapter's handler: at the root, executable (CDK zips each file with its mode).
    script = lambda_asset / START_SCRIPT
    assert script.is_file()
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert (lambda_asset / "uvicorn" / "__init__.py").is_file()
    # Sources of other packages stay out.
    assert not (lambda_asset / "authorizer").exists()

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def started_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The start script, run as Lambda would, on a bundle built for this machine."""
    bundle = tmp_path / "bundle"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_package(bundle, PackageTarget(python_version=version, platform_tags=()))
    # `python` on PATH is the interpreter without this venv's packages, as on Lambda.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(Path(sys._base_executable).resolve())  # type: ignore[attr-defined]
    port = free_port()
    env = {
        **rag_environment(load_config()),
        "RAG_QDRANT_PATH": str(tmp_path / "qdrant"),
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "LlmTwin",
        "LAMBDA_TASK_ROOT": str(bundle),
        "AWS_LWA_PORT": str(port),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
    }
    server = subprocess.Popen(
        [str(bundle / START_SCRIPT)],
        env=env,
        cwd=bundle,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_start_script_serves_the_app_from_the_bundle(
    started_server: tuple[subprocess.Popen[bytes], int],
) -> None:
    """What the Web Adapter's readiness check polls: GET /health on AWS_LWA_PORT."""
    server, port = started_server
    deadline = time.monotonic() + 120  # a bound on waiting, not a speed check
    while True:
        assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                assert reply.status == 200
                assert json.loads(reply.read())["status"] == "ok"
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
