"""The pip command the local bundler runs, without running it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from stacks.constructs.lambda_bundling import LAMBDA_SRC, PackageTarget, pip_command


def test_targets_the_lambda_platform_with_binary_wheels_only(tmp_path: Path) -> None:
    target = PackageTarget.for_lambda(lambda_.Runtime.PYTHON_3_14, lambda_.Architecture.ARM_64)
    command = pip_command(tmp_path, target)
    joined = " ".join(command)
    assert "--python-version 3.14" in joined
    assert "--implementation cp" in joined
    assert "--only-binary=:all:" in command
    assert "--platform manylinux2014_aarch64" in joined
    assert "--platform manylinux_2_28_aarch64" in joined
    assert f"--requirement {LAMBDA_SRC / 'requirements.txt'}" in joined
    assert f"--target {tmp_path}" in joined


def test_extra_requirements_are_added_and_local_builds_use_this_platform(tmp_path: Path) -> None:
    target = PackageTarget("3.11", platform_tags=(), extra_requirements=("requirements-opik.txt",))
    joined = " ".join(pip_command(tmp_path, target))
    assert f"--requirement {LAMBDA_SRC / 'requirements-opik.txt'}" in joined
    assert "--platform" not in joined
    assert (LAMBDA_SRC / "requirements-opik.txt").is_file()
