"""Small lookups over synthesized templates that several test modules share."""

from __future__ import annotations

from typing import Any

from model_config.runtime_env import rag_environment
from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.constructs.lambda_bundling import START_SCRIPT
from stacks.constructs.rag_function import MANGUM_HANDLER
from tests.infrastructure.conftest import Synthesized

AUTHORIZER_HANDLER = "handler.handler"


def resources_of_type(template: dict, resource_type: str) -> dict[str, dict]:
    """Logical id -> resource, for every resource of `resource_type`."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def api_function(result: Synthesized, handler: str) -> dict[str, Any]:
    """The properties of the one API-stack function with `handler`."""
    template = result.template_json(constants.API_STACK)
    found = [
        resource["Properties"]
        for resource in resources_of_type(template, "AWS::Lambda::Function").values()
        if resource["Properties"]["Handler"] == handler
    ]
    assert len(found) == 1, f"expected one function with handler {handler}, found {len(found)}"
    return found[0]


def mangum_function(result: Synthesized) -> dict[str, Any]:
    return api_function(result, MANGUM_HANDLER)


def streaming_function(result: Synthesized) -> dict[str, Any]:
    return api_function(result, START_SCRIPT)


def statements(template: dict) -> list[dict]:
    """Every statement of every IAM policy in the template."""
    found: list[dict] = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def app_environment(config: DeploymentConfig) -> dict[str, str]:
    """What every function running the RAG app must get, whatever its frontend."""
    return {
        **rag_environment(config),
        "RAG_QDRANT_SECRET_ID": config.retrieval.qdrant_secret_name,
        "POWERTOOLS_SERVICE_NAME": "llm-twin-rag",
        "POWERTOOLS_METRICS_NAMESPACE": "LlmTwin",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
