"""Composes the stacks of one deployment and the checks that run on them at synth."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.api_stack import ApiStack
from stacks.constructs.region_guard import require_deployable_region
from stacks.inference_stack import InferenceStack


def stack_suffix(config: DeploymentConfig) -> str:
    """CamelCase form of the config name for stack ids, e.g. TwinLlama318b."""
    return "".join(part.capitalize() for part in config.resource_prefix.split("-"))


@dataclass(frozen=True)
class Deployment:
    """The stacks of one model config."""

    inference: InferenceStack
    api: ApiStack


def add_deployment(
    app: cdk.App, config: DeploymentConfig, env: cdk.Environment | None = None
) -> Deployment:
    """Add the stacks for `config` to `app`, with cdk-nag's AwsSolutions pack.

    Raises RegionError for a region without inference components or the adapter layer.
    """
    suffix = stack_suffix(config)
    inference = InferenceStack(
        app,
        f"{constants.INFERENCE_STACK}{suffix}",
        config=config,
        env=env,
        description=f"LLM Twin inference endpoint for {config.name} ({config.llm.model_id})",
    )
    api = ApiStack(
        app,
        f"{constants.API_STACK}{suffix}",
        config=config,
        # A plain name, not a cross-stack export, so either stack can be updated alone.
        endpoint_name=inference.model_endpoint.endpoint_name,
        env=env,
        description=f"LLM Twin RAG API for {config.name}",
    )
    api.add_stack_dependency(inference, "the API calls the endpoint's components")
    for stack in (inference, api):
        require_deployable_region(stack)
    cdk.Tags.of(app).add("project", "llm-twin")
    cdk.Tags.of(app).add("model-config", config.name)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Deployment(inference=inference, api=api)
