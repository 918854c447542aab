"""Composes the stacks of one deployment and the checks that run on them at synth."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.inference_stack import InferenceStack


def stack_suffix(config: DeploymentConfig) -> str:
    """CamelCase form of the config name for stack ids, e.g. TwinLlama318b."""
    return "".join(part.capitalize() for part in config.resource_prefix.split("-"))


def add_deployment(
    app: cdk.App, config: DeploymentConfig, env: cdk.Environment | None = None
) -> InferenceStack:
    """Add the stacks for `config` to `app`, with cdk-nag's AwsSolutions pack."""
    suffix = stack_suffix(config)
    inference = InferenceStack(
        app,
        f"{constants.INFERENCE_STACK}{suffix}",
        config=config,
        env=env,
        description=f"LLM Twin inference endpoint for {config.name} ({config.llm.model_id})",
    )
    cdk.Tags.of(app).add("project", "llm-twin")
    cdk.Tags.of(app).add("model-config", config.name)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return inference
