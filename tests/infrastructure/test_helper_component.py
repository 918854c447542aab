"""The optional helper component: its model, copies, wake-up, permissions and the app's settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from model_config.runtime_env import helper_model
from stacks import constants
from tests.infrastructure.conftest import Synthesized, synthesize
from tests.infrastructure.helper_configs import (
    HELPER_MODEL,
    tgi_helper_scaling_to_zero,
    vllm_helper,
    with_helper,
)
from tests.infrastructure.template_queries import mangum_function, statements, streaming_function
from tests.infrastructure.test_api_stack import arn_suffixes, invoke_statement

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]


def test_the_helper_is_its_own_component_on_its_own_gpu(synth: Synth) -> None:
    result = synth(vllm_helper())
    names, helper = result.config.names, result.config.helper
    assert helper is not None
    template = result.template(constants.INFERENCE_STACK)

    template.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "InferenceComponentName": names.helper_component,
            "Specification": {
                "ComputeResourceRequirements": {
                    "NumberOfAcceleratorDevicesRequired": 1,
                    "NumberOfCpuCoresRequired": 2,
                    "MinMemoryRequiredInMb": 2048,
                },
                "StartupParameters": {
                    "ContainerStartupHealthCheckTimeoutInSeconds": (
                        helper.startup_health_check_timeout_s
                    ),
                    "ModelDataDownloadTimeoutInSeconds": helper.model_download_timeout_s,
                },
            },
            "RuntimeConfig": {"CopyCount": 1},
        },
    )
    # vLLM's own variables, for the helper's model and limits.
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Environment": {
                    "SM_VLLM_MODEL": HELPER_MODEL,
                    "SM_VLLM_SERVED_MODEL_NAME": HELPER_MODEL,
                    "SM_VLLM_TENSOR_PARALLEL_SIZE": "1",
                    "SM_VLLM_MAX_MODEL_LEN": "1152",
                    "SM_VLLM_GPU_MEMORY_UTILIZATION": "0.5",
                    "SM_VLLM_DTYPE": "bfloat16",
                }
            }
        },
    )
    template.resource_count_is("AWS::SageMaker::InferenceComponent", 3)
    template.has_output(constants.OUTPUT_HELPER_COMPONENT, {"Value": names.helper_component})
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": f"/aws/sagemaker/InferenceComponents/{names.helper_component}"},
    )


def test_the_helper_on_the_llms_engine_reuses_its_image(synth: Synth) -> None:
    result = synth(vllm_helper())
    template = result.template_json(constants.INFERENCE_STACK)
    images = {
        model["Properties"]["PrimaryContainer"]["Image"]["Fn::FindInMap"][2]
        for model in template["Resources"].values()
        if model["Type"] == "AWS::SageMaker::Model"
    }

    assert images == {"VllmUri", "TeiCpuUri"}


def test_the_helpers_copies_track_their_own_concurrency(synth: Synth) -> None:
    result = synth(vllm_helper())
    name = result.config.names.helper_component
    template = result.template(constants.INFERENCE_STACK)

    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": f"inference-component/{name}",
            "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
            "MinCapacity": 1,
            "MaxCapacity": 1,
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": Match.any_value(),
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": (
                            "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
                        )
                    },
                    "TargetValue": 4,
                }
            ),
        },
    )


@pytest.mark.parametrize("function_id", [constants.RAG_FUNCTION, constants.STREAMING_FUNCTION])
def test_the_app_functions_may_invoke_the_helper(synth: Synth, function_id: str) -> None:
    result = synth(vllm_helper())
    names = result.config.names

    statement = invoke_statement(result, function_id)

    assert arn_suffixes(statement["Resource"]) == [
        f":endpoint/{names.endpoint}",
        f":inference-component/{names.llm_component}",
        f":inference-component/{names.embedding_component}",
        f":inference-component/{names.helper_component}",
    ]


def test_both_app_functions_are_told_which_component_helps(synth: Synth) -> None:
    result = synth(vllm_helper())
    config = result.config
    assert config.helper is not None
    assert config.names.helper_component

    for function in (mangum_function(result), streaming_function(result)):
        helper = json.loads(function["Environment"]["Variables"]["RAG_HELPER"])
        assert helper == {
            "component": config.names.helper_component,
            "engine": "vllm",
            "prompt_format": "chat",
            "max_input_tokens": 1024,
            # Room after the longest input: max_total_tokens - max_input_tokens.
            "max_new_tokens": 128,
            "stop": ["<|im_end|>"],
        }
        assert helper == helper_model(config.helper, config.names.helper_component)


def test_without_a_helper_the_functions_get_no_helper_setting(synth: Synth) -> None:
    assert (
        "RAG_HELPER" not in mangum_function(synth("twin-llama-3.1-8b"))["Environment"]["Variables"]
    )


def test_a_sleeping_helper_is_woken_by_its_refusals_and_by_the_embedders(synth: Synth) -> None:
    result = synth(tgi_helper_scaling_to_zero())
    names = result.config.names
    template = result.template_json(constants.INFERENCE_STACK)
    resources = template["Resources"]
    wake = {
        resource["Properties"]["ResourceId"].split("/", 1)[1]: policy_id
        for policy_id, policy in resources.items()
        if policy["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
        and policy["Properties"]["PolicyType"] == "StepScaling"
        for resource in [resources[policy["Properties"]["ScalingTargetId"]["Ref"]]]
    }
    alarms = {
        alarm["Properties"]["Dimensions"][0]["Value"]: alarm["Properties"]["AlarmActions"]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"].get("MetricName") == "NoCapacityInvocationFailures"
        and "AlarmActions" in alarm["Properties"]
    }

    helper_wake = {"Ref": wake[names.helper_component]}
    assert alarms[names.helper_component] == [helper_wake]
    assert helper_wake in alarms[names.embedding_component]


def test_a_helper_engine_needing_another_host_image_fails_synth(tmp_path: Path) -> None:
    # vLLM 0.30 is built for CUDA 13, TGI 3.3.6 for CUDA 12: no host image runs both.
    config = with_helper(
        "twin-llama-3.1-8b",
        {
            "model_id": HELPER_MODEL,
            "engine": "tgi",
            "cpu_cores": 1,
            "memory_mb": 1024,
            "scaling": {"min_copies": 1, "max_copies": 1},
        },
        llm={"scaling": {"min_copies": 1, "max_copies": 3}},
    )

    with pytest.raises(ValueError, match="LLM and helper engine images need different host images"):
        synthesize(config, tmp_path)


def test_every_function_running_the_app_may_invoke_the_helper(synth: Synth) -> None:
    result = synth(vllm_helper())
    helper_arn = f":inference-component/{result.config.names.helper_component}"
    invoking = [
        statement
        for statement in statements(result.template_json(constants.API_STACK))
        if statement.get("Sid") == "InvokeOwnEndpoint"
    ]

    # The buffered and streaming API functions and the batch runner.
    assert len(invoking) == 3
    for statement in invoking:
        assert helper_arn in arn_suffixes(statement["Resource"])


def test_the_dashboard_shows_the_helpers_gpu_beside_the_llms(synth: Synth) -> None:
    result = synth(vllm_helper())
    names = result.config.names
    template = result.template_json(constants.API_STACK)
    (dashboard,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for component in (names.llm_component, names.helper_component):
        assert f"{component} GPUUtilizationNormalized" in body
        assert f"{component} GPUMemoryUtilizationNormalized" in body
    assert f"{names.embedding_component} GPUUtilizationNormalized" not in body


def test_a_gated_helper_from_s3_gets_its_token_and_only_its_prefix(synth: Synth) -> None:
    base = vllm_helper()
    assert base.helper is not None
    config = with_helper(
        base.name,
        {
            **base.helper.model_dump(exclude_none=True, exclude={"startup_health_check_timeout_s"}),
            "weights_s3_uri": "s3://my-models/helpers/qwen-0.5b/",
            "hf_token_secret_name": "llm-twin/helper-hf-token",
        },
        llm={"scaling": base.llm.scaling.model_dump()},
    )
    result = synth(config)
    template = result.template(constants.INFERENCE_STACK)

    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": "s3://my-models/helpers/qwen-0.5b/",
                            "S3DataType": "S3Prefix",
                            "CompressionType": "None",
                        }
                    },
                    "Environment": Match.object_like(
                        {
                            "SM_VLLM_MODEL": "/opt/ml/model",
                            "SM_VLLM_SERVED_MODEL_NAME": HELPER_MODEL,
                            "HF_TOKEN": {
                                "Fn::Join": [
                                    "",
                                    Match.array_with(
                                        [
                                            Match.string_like_regexp("resolve:secretsmanager:"),
                                            Match.string_like_regexp(
                                                ":secret:llm-twin/helper-hf-token:"
                                            ),
                                        ]
                                    ),
                                ]
                            },
                        }
                    ),
                }
            )
        },
    )
    # The LLM still comes from the Hub, without a token.
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "ModelDataSource": Match.absent(),
                    "Environment": Match.object_like(
                        {"SM_VLLM_MODEL": result.config.llm.model_id, "HF_TOKEN": Match.absent()}
                    ),
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ListModelData",
                                "Condition": {"StringLike": {"s3:prefix": ["helpers/qwen-0.5b/*"]}},
                            }
                        )
                    ]
                )
            }
        },
    )
