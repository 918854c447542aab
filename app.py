#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy|destroy -c model=<config name>`."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from model_config import DEFAULT_MODEL, ConfigError, load_config
from stacks.constructs.region_guard import RegionError
from stacks.deployment import add_deployment


def main() -> None:
    app = cdk.App()
    model = app.node.try_get_context("model") or DEFAULT_MODEL
    try:
        config = load_config(model)
    except ConfigError as err:
        sys.exit(f"model config error: {err}")
    # Without an account and region (offline synth) the stack stays environment-agnostic.
    region = os.environ.get("CDK_DEFAULT_REGION")
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    env = cdk.Environment(account=account, region=region) if region else None
    try:
        add_deployment(app, config, env=env)
    except RegionError as err:
        sys.exit(f"region error: {err}")
    app.synth()


if __name__ == "__main__":
    main()
