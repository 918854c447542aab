"""Builds the RAG Lambda package with pip for the Lambda platform, so no Docker is needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
APP_PACKAGE = "rag_app"
# The streaming function's handler (the Lambda Web Adapter runs it): at the package root, executable.
START_SCRIPT = "start_server.sh"
EXECUTABLE = 0o755
REQUIREMENTS = "requirements.txt"
# Sources in lambda_src that are not part of this package (the authorizer has its own).
NOT_PACKAGED = ("authorizer",)
# Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34): both tags fit.
PLATFORM_TAGS = {
    lambda_.Architecture.ARM_64.name: ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    lambda_.Architecture.X86_64.name: ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
# Test suites shipped inside packages (numpy's alone is several MB) and byte code caches.
PRUNED_DIRS = ("__pycache__", "tests")


@dataclass(frozen=True)
class PackageTarget:
    """Which interpreter and machine the package is for."""

    python_version: str  # "3.14"
    platform_tags: tuple[str, ...]  # empty: the machine running the build
    # Extra requirement files in lambda_src/, e.g. requirements-opik.txt.
    extra_requirements: tuple[str, ...] = ()

    @classmethod
    def for_lambda(
        cls,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        extra_requirements: tuple[str, ...] = (),
    ) -> PackageTarget:
        version = runtime.name.removeprefix("python")
        return cls(version, PLATFORM_TAGS[architecture.name], extra_requirements)

    @property
    def requirement_files(self) -> tuple[str, ...]:
        return (REQUIREMENTS, *self.extra_requirements)


def pip_command(
    output_dir: Path, target: PackageTarget, source_dir: Path = LAMBDA_SRC
) -> list[str]:
    """The pip invocation that installs the runtime requirements for `target`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--no-compile",
        "--target",
        str(output_dir),
    ]
    for requirements in target.requirement_files:
        command += ["--requirement", str(source_dir / requirements)]
    if target.platform_tags:
        command += ["--implementation", "cp", "--python-version", target.python_version]
        command += ["--only-binary=:all:"]
        for tag in target.platform_tags:
            command += ["--platform", tag]
    return command


def build_package(output_dir: Path, target: PackageTarget, source_dir: Path = LAMBDA_SRC) -> None:
    """Install the runtime requirements and copy the app and its start script into `output_dir`."""
    command = pip_command(output_dir, target, source_dir)
    subprocess.run(command, check=True)  # noqa: S603 - fixed arguments, our own requirements
    shutil.copytree(
        source_dir / APP_PACKAGE,
        output_dir / APP_PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    # The mode goes into the zip as it is here (CDK's asset zip keeps each file's mode).
    shutil.copyfile(source_dir / START_SCRIPT, output_dir / START_SCRIPT)
    (output_dir / START_SCRIPT).chmod(EXECUTABLE)
    _prune(output_dir)


def _prune(root: Path) -> None:
    for name in PRUNED_DIRS:
        for path in sorted(root.glob(f"*/**/{name}"), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
    # Console scripts pip writes for the build machine; Lambda never runs them.
    shutil.rmtree(root / "bin", ignore_errors=True)


@jsii.implements(cdk.ILocalBundling)
class PipBundler:
    """CDK local bundling: pip builds the package; Docker bundling is only the fallback."""

    def __init__(self, target: PackageTarget) -> None:
        self.target = target

    def try_bundle(self, output_dir: str, _options: Any = None) -> bool:
        try:
            build_package(Path(output_dir), self.target)
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"local pip bundling failed ({err}); trying Docker", file=sys.stderr)
            return False
        return True


def lambda_code(
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    extra_requirements: tuple[str, ...] = (),
) -> lambda_.Code:
    """The RAG app as a Lambda asset, bundled locally with a Docker fallback."""
    target = PackageTarget.for_lambda(runtime, architecture, extra_requirements)
    # The command is part of the asset hash, so each set of requirements gets its own asset.
    requirement_args = " ".join(f"-r {name}" for name in target.requirement_files)
    docker_command = (
        f"pip install --no-compile {requirement_args} -t /asset-output "
        f"&& cp -r {APP_PACKAGE} /asset-output/ "
        f"&& install -m 755 {START_SCRIPT} /asset-output/{START_SCRIPT}"
    )
    return lambda_.Code.from_asset(
        str(LAMBDA_SRC),
        exclude=["**/__pycache__", "**/*.pyc", *NOT_PACKAGED],
        bundling=cdk.BundlingOptions(
            image=runtime.bundling_image,
            platform=architecture.docker_platform,
            command=["bash", "-c", docker_command],
            # jsii passes the options positionally, unlike its generated signature.
            local=PipBundler(target),  # type: ignore[arg-type]
        ),
    )
