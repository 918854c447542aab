"""Deploy hardening: first-deploy ordering, stack-owned log groups, rolling updates, stable variant."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from model_config import DeploymentConfig, load_config
from stacks import constants
from stacks.constructs.rag_rest_api import STAGE_NAME
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import resources_of_type

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]


def execution_role_policy_id(template: dict) -> str:
    (policy_id,) = [
        logical_id
        for logical_id in resources_of_type(template, "AWS::IAM::Policy")
        if "ExecutionRole" in logical_id
    ]
    return policy_id


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_everything_naming_the_role_waits_for_its_permissions(synth: Synth, model: str) -> None:
    template = synth(model).template_json(constants.INFERENCE_STACK)
    policy_id = execution_role_policy_id(template)
    dependents = {
        **resources_of_type(template, "AWS::SageMaker::Model"),
        **resources_of_type(template, "AWS::SageMaker::EndpointConfig"),
    }
    assert len(dependents) == len(synth(model).config.components) + 1
    for logical_id, resource in dependents.items():
        assert policy_id in resource.get("DependsOn", []), logical_id


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_stack_owns_every_sagemaker_log_group(synth: Synth, model: str) -> None:
    result = synth(model)
    names = result.config.names
    template = result.template_json(constants.INFERENCE_STACK)
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    expected = {f"/aws/sagemaker/Endpoints/{names.endpoint}"} | {
        f"/aws/sagemaker/InferenceComponents/{name}" for name in names.component_names
    }
    assert {g["Properties"]["LogGroupName"] for g in groups.values()} == expected
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == result.config.endpoint.log_retention_days
        assert group["DeletionPolicy"] == "Delete"
        assert group["UpdateReplacePolicy"] == "Delete"


def test_endpoint_log_retention_comes_from_the_config(synth: Synth) -> None:
    config = load_config("smollm2-1.7b")
    weekly = config.model_copy(
        update={"endpoint": config.endpoint.model_copy(update={"log_retention_days": 7})}
    )
    template = synth(weekly).template_json(constants.INFERENCE_STACK)
    retention = {
        g["Properties"]["RetentionInDays"]
        for g in resources_of_type(template, "AWS::Logs::LogGroup").values()
    }
    assert retention == {7}


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_stack_owns_every_api_and_lambda_log_group(synth: Synth, model: str) -> None:
    result = synth(model)
    template = result.template_json(constants.API_STACK)
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    # Four functions (two API entries, the authorizer, batch lines), the batch state machine,
    # the access log and API Gateway's execution log.
    assert len(groups) == 7
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == result.config.api.log_retention_days
        assert group["DeletionPolicy"] == "Delete"
    # Every function logs to a group of the stack (Lambda would create /aws/lambda/... itself),
    # but CDK's provider that empties the batch buckets during `cdk destroy` (README: What
    # `cdk destroy` leaves behind).
    for logical_id, function in resources_of_type(template, "AWS::Lambda::Function").items():
        if logical_id.startswith("CustomS3AutoDeleteObjects"):
            continue
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_group in groups
    # The stage logs to the group API Gateway would create for it, created first by the stack.
    ((api_id, _),) = resources_of_type(template, "AWS::ApiGateway::RestApi").items()
    (stage,) = resources_of_type(template, "AWS::ApiGateway::Stage").values()
    execution_logs = {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, f"/{STAGE_NAME}"]]
    }
    (execution_id,) = [
        logical_id
        for logical_id, group in groups.items()
        if group["Properties"].get("LogGroupName") == execution_logs
    ]
    assert stage["Properties"]["StageName"] == STAGE_NAME
    assert execution_id in stage["DependsOn"]
    assert stage["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0] in groups


def rolling_batches(max_copies: int) -> int:
    """Batches of half the copies (at least one) for the worst copy count up to max_copies."""
    return max(math.ceil(n / max(1, n // 2)) for n in range(1, max_copies + 1))


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_rolling_updates_move_half_the_copies_and_allow_time_for_all(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    template = result.template_json(constants.INFERENCE_STACK)
    by_name = {
        c["Properties"]["InferenceComponentName"]: c["Properties"]
        for c in resources_of_type(template, "AWS::SageMaker::InferenceComponent").values()
    }
    for name, compute in zip(
        result.config.names.component_names, result.config.components.values(), strict=True
    ):
        policy = by_name[name]["DeploymentConfig"]["RollingUpdatePolicy"]
        # The API allows 5-50 % of the copy count per batch.
        assert policy["MaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
        assert policy["WaitIntervalInSeconds"] == 60
        per_batch = compute.model_download_timeout_s + compute.startup_health_check_timeout_s + 60
        needed = rolling_batches(compute.scaling.max_copies) * per_batch
        assert policy["MaximumExecutionTimeoutInSeconds"] == max(needed, 600)
        assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= 28_800


def test_rolling_timeout_of_the_default_llm_covers_three_batches(synth: Synth) -> None:
    # Up to 4 copies: 3 copies in batches of one is the worst case, 3 x (1200 + 968 + 60) s
    # (968 s: the startup health check sized for 16.1 GB of weights).
    template = synth("twin-llama-3.1-8b").template_json(constants.INFERENCE_STACK)
    (llm,) = [
        c["Properties"]
        for c in resources_of_type(template, "AWS::SageMaker::InferenceComponent").values()
        if c["Properties"]["InferenceComponentName"] == "twin-llama-3-1-8b-llm"
    ]
    assert (
        llm["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] == 6684
    )


def with_llm_timeouts(config: DeploymentConfig, startup: int, download: int) -> DeploymentConfig:
    llm = config.llm.model_copy(
        update={"startup_health_check_timeout_s": startup, "model_download_timeout_s": download}
    )
    return config.model_copy(update={"llm": llm})


def test_changing_an_llm_timeout_leaves_the_endpoint_config_alone(synth: Synth) -> None:
    config = load_config()
    slower = with_llm_timeouts(config, startup=1500, download=1800)
    before = synth(config).template_json(constants.INFERENCE_STACK)
    after = synth(slower).template_json(constants.INFERENCE_STACK)
    # The endpoint config (and so the endpoint) is unchanged; only the component moves.
    assert resources_of_type(after, "AWS::SageMaker::EndpointConfig") == resources_of_type(
        before, "AWS::SageMaker::EndpointConfig"
    )
    assert resources_of_type(after, "AWS::SageMaker::Endpoint") == resources_of_type(
        before, "AWS::SageMaker::Endpoint"
    )
    (llm_after,) = [
        c["Properties"]["Specification"]["StartupParameters"]
        for c in resources_of_type(after, "AWS::SageMaker::InferenceComponent").values()
        if c["Properties"]["InferenceComponentName"] == config.names.llm_component
    ]
    assert llm_after == {
        "ContainerStartupHealthCheckTimeoutInSeconds": 1500,
        "ModelDataDownloadTimeoutInSeconds": 1800,
    }
