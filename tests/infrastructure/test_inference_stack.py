"""InferenceStack template, asserted property by property for every shipped config."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from model_config import DeploymentConfig, load_config
from model_config.schema import LlmComponent, startup_timeout_for
from stacks import constants
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]


def inference(synth: Synth, model: str) -> tuple[DeploymentConfig, Template]:
    result = synth(model)
    return result.config, result.template(constants.INFERENCE_STACK)


def component_specs(config: DeploymentConfig) -> list[tuple[str, object]]:
    names = config.names
    specs: list[tuple[str, object]] = [
        (names.llm_component, config.llm),
        (names.embedding_component, config.embedding),
    ]
    if config.reranker is not None and names.reranker_component:
        specs.append((names.reranker_component, config.reranker))
    return specs


def logical_id(template: Template, resource_type: str, **properties: object) -> str:
    found = template.find_resources(resource_type, {"Properties": properties})
    assert len(found) == 1, f"expected one {resource_type} with {properties}, got {list(found)}"
    return next(iter(found))


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_one_endpoint_and_one_model_component_and_scaling_per_component(
    synth: Synth, model: str
) -> None:
    config, template = inference(synth, model)
    count = len(component_specs(config))
    template.resource_count_is("AWS::SageMaker::Endpoint", 1)
    template.resource_count_is("AWS::SageMaker::EndpointConfig", 1)
    template.resource_count_is("AWS::SageMaker::Model", count)
    template.resource_count_is("AWS::SageMaker::InferenceComponent", count)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", count)
    template.resource_count_is(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        count * (2 if config.endpoint.scale_to_zero else 1),
    )
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint", {"EndpointName": config.names.endpoint}
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_endpoint_config_hosts_inference_components(synth: Synth, model: str) -> None:
    config, template = inference(synth, model)
    endpoint = config.endpoint
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ExecutionRoleArn": Match.any_value(),
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": Match.absent(),
                    "InstanceType": endpoint.instance_type,
                    "InitialInstanceCount": endpoint.initial_instances,
                    "ManagedInstanceScaling": {
                        "Status": "ENABLED",
                        "MinInstanceCount": endpoint.min_instances,
                        "MaxInstanceCount": endpoint.max_instances,
                        # Stated, not SageMaker's 20-minute default: an instance without
                        # copies is released this long after the last endpoint operation.
                        "ScaleInPolicy": {
                            "Strategy": "IDLE_RELEASE",
                            "CooldownInMinutes": endpoint.instance_release_cooldown_min,
                            "MaximumStepSize": 1,
                        },
                    },
                    "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
                    "InferenceAmiVersion": Match.string_like_regexp(
                        r"^al2(023)?-ami-sagemaker-inference-gpu-"
                    ),
                    # Each component carries its own startup timeouts (StartupParameters).
                    "ContainerStartupHealthCheckTimeoutInSeconds": Match.absent(),
                    "ModelDataDownloadTimeoutInSeconds": Match.absent(),
                }
            ],
            # ml.g5 instances have NVMe storage: SageMaker rejects a KMS key there.
            "KmsKeyId": Match.absent(),
            # New endpoint configs would publish per-container and Prometheus metrics.
            "MetricsConfig": {
                "EnableEnhancedMetrics": False,
                "EnableDetailedObservability": False,
                "MetricPublishFrequencyInSeconds": 60,
            },
        },
    )


def test_instance_release_cooldown_comes_from_the_config(synth: Synth) -> None:
    config = load_config("smollm2-1.7b")
    slower = config.model_copy(
        update={
            "endpoint": config.endpoint.model_copy(update={"instance_release_cooldown_min": 45})
        }
    )
    synth(slower).template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "ManagedInstanceScaling": Match.object_like(
                            {"ScaleInPolicy": Match.object_like({"CooldownInMinutes": 45})}
                        )
                    }
                )
            ]
        },
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_llm_startup_health_check_is_sized_from_the_weights(synth: Synth, model: str) -> None:
    config, template = inference(synth, model)
    llm = config.llm
    assert llm.weights_gb is not None, "every shipped config states its weights' size"
    expected = max(600, startup_timeout_for(llm.weights_gb))
    assert llm.startup_health_check_timeout_s == expected
    template.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "InferenceComponentName": config.names.llm_component,
            "Specification": Match.object_like(
                {
                    "StartupParameters": {
                        "ContainerStartupHealthCheckTimeoutInSeconds": expected,
                        "ModelDataDownloadTimeoutInSeconds": llm.model_download_timeout_s,
                    }
                }
            ),
        },
    )


def test_the_32b_weights_get_more_than_the_old_1800_s() -> None:
    # 65.5 GB from the Hub plus a four-GPU load: 1,800 s was tight.
    assert load_config("qwen2.5-32b").llm.startup_health_check_timeout_s > 1800


def test_default_model_timeouts_leave_room_for_an_8b_download() -> None:
    llm = load_config().llm
    assert llm.model_download_timeout_s >= 900
    assert llm.startup_health_check_timeout_s >= 600


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_components_have_fixed_names_and_compute_from_config(synth: Synth, model: str) -> None:
    config, template = inference(synth, model)
    for name, spec in component_specs(config):
        is_llm = name == config.names.llm_component
        template.has_resource_properties(
            "AWS::SageMaker::InferenceComponent",
            {
                "InferenceComponentName": name,
                "VariantName": "AllTraffic",
                "EndpointName": {"Fn::GetAtt": [Match.any_value(), "EndpointName"]},
                "RuntimeConfig": {"CopyCount": max(spec.scaling.min_copies, 1)},  # type: ignore[attr-defined]
                "Specification": {
                    "ModelName": {"Fn::GetAtt": [Match.any_value(), "ModelName"]},
                    "ComputeResourceRequirements": {
                        "NumberOfCpuCoresRequired": spec.cpu_cores,  # type: ignore[attr-defined]
                        "MinMemoryRequiredInMb": spec.memory_mb,  # type: ignore[attr-defined]
                        "NumberOfAcceleratorDevicesRequired": (
                            config.llm.num_gpus if is_llm else Match.absent()
                        ),
                    },
                    "StartupParameters": {
                        "ContainerStartupHealthCheckTimeoutInSeconds": (
                            spec.startup_health_check_timeout_s  # type: ignore[attr-defined]
                        ),
                        "ModelDataDownloadTimeoutInSeconds": spec.model_download_timeout_s,  # type: ignore[attr-defined]
                    },
                },
                "DeploymentConfig": {
                    "RollingUpdatePolicy": {
                        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                        "WaitIntervalInSeconds": 60,
                        "MaximumExecutionTimeoutInSeconds": Match.any_value(),
                    }
                },
            },
        )


def test_default_model_is_the_twin_on_one_a10g_in_bf16() -> None:
    config = load_config()
    assert config.llm.model_id == "mlabonne/TwinLlama-3.1-8B-DPO"
    assert config.endpoint.instance_type == "ml.g5.2xlarge"
    assert (config.llm.num_gpus, config.llm.dtype, config.llm.quantize) == (1, "bfloat16", None)
    assert "### Instruction:" in config.prompt_template
    assert "### Response:" in config.prompt_template


def test_large_config_shards_over_four_gpus(synth: Synth) -> None:
    config, template = inference(synth, "qwen2.5-32b")
    assert config.endpoint.instance_type == "ml.g5.12xlarge"
    assert config.llm.engine == "vllm"
    # Tensor parallel over every GPU the component reserves.
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Environment": Match.object_like({"SM_VLLM_TENSOR_PARALLEL_SIZE": "4"})
            }
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "InferenceComponentName": config.names.llm_component,
            "Specification": Match.object_like(
                {
                    "ComputeResourceRequirements": Match.object_like(
                        {"NumberOfAcceleratorDevicesRequired": 4}
                    )
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Environment": {"HF_MODEL_ID": "cross-encoder/ms-marco-MiniLM-L-4-v2"}
            }
        },
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_each_component_scales_its_copies_on_high_resolution_concurrency(
    synth: Synth, model: str
) -> None:
    config, template = inference(synth, model)
    for name, spec in component_specs(config):
        scaling = spec.scaling  # type: ignore[attr-defined]
        target_id = logical_id(
            template,
            "AWS::ApplicationAutoScaling::ScalableTarget",
            ResourceId=f"inference-component/{name}",
        )
        component_id = logical_id(
            template, "AWS::SageMaker::InferenceComponent", InferenceComponentName=name
        )
        template.has_resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            {
                "Properties": {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": f"inference-component/{name}",
                    "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
                    "MinCapacity": scaling.min_copies,
                    "MaxCapacity": scaling.max_copies,
                    "RoleARN": {
                        "Fn::Join": [
                            "",
                            Match.array_with(
                                [
                                    Match.string_like_regexp(
                                        "AWSServiceRoleForApplicationAutoScaling"
                                    )
                                ]
                            ),
                        ]
                    },
                },
                # The target names the component only by string: the order must be explicit.
                "DependsOn": Match.array_with([component_id]),
            },
        )
        template.has_resource_properties(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": target_id},
                "TargetTrackingScalingPolicyConfiguration": {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": (
                            "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
                        )
                    },
                    "TargetValue": scaling.target_concurrent_requests_per_copy,
                    "ScaleInCooldown": scaling.scale_in_cooldown_s,
                    "ScaleOutCooldown": scaling.scale_out_cooldown_s,
                },
            },
        )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_outputs_name_the_endpoint_and_components(synth: Synth, model: str) -> None:
    config, template = inference(synth, model)
    names = config.names
    template.has_output(constants.OUTPUT_ENDPOINT_NAME, {"Value": names.endpoint})
    template.has_output(constants.OUTPUT_LLM_COMPONENT, {"Value": names.llm_component})
    template.has_output(constants.OUTPUT_EMBEDDING_COMPONENT, {"Value": names.embedding_component})
    if names.reranker_component:
        template.has_output(
            constants.OUTPUT_RERANKER_COMPONENT, {"Value": names.reranker_component}
        )


@pytest.mark.parametrize(
    ("model", "variable"), [("qwen2.5-32b", "SM_VLLM_MODEL"), ("smollm2-1.7b", "HF_MODEL_ID")]
)
def test_weights_from_s3_are_copied_by_sagemaker_and_loaded_from_opt_ml_model(
    synth: Synth, model: str, variable: str
) -> None:
    config = load_config(model)
    llm = LlmComponent.model_validate(
        {
            **config.llm.model_dump(exclude={"startup_health_check_timeout_s"}),
            "weights_s3_uri": "s3://my-models/qwen/2.5-32b/",
        }
    )
    from_s3 = config.model_copy(update={"llm": llm})
    result = synth(from_s3)
    template = result.template(constants.INFERENCE_STACK)
    # No Hub download inside the health check any more: only loading is timed there.
    assert llm.startup_health_check_timeout_s == max(
        600, startup_timeout_for(llm.weights_gb or 0, from_hub=False)
    )
    assert llm.startup_health_check_timeout_s < config.llm.startup_health_check_timeout_s
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": "s3://my-models/qwen/2.5-32b/",
                            "S3DataType": "S3Prefix",
                            "CompressionType": "None",
                        }
                    },
                    "Environment": Match.object_like({variable: "/opt/ml/model"}),
                }
            )
        },
    )
    # The embedding model still comes from the Hub.
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "ModelDataSource": Match.absent(),
                    "Environment": {"HF_MODEL_ID": config.embedding.model_id},
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
                        {
                            "Sid": "ReadModelData",
                            "Action": "s3:GetObject",
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        "arn:",
                                        {"Ref": "AWS::Partition"},
                                        ":s3:::my-models/qwen/2.5-32b/*",
                                    ],
                                ]
                            },
                        },
                        {
                            "Sid": "ListModelData",
                            "Action": "s3:ListBucket",
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    ["arn:", {"Ref": "AWS::Partition"}, ":s3:::my-models"],
                                ]
                            },
                            "Condition": {"StringLike": {"s3:prefix": ["qwen/2.5-32b/*"]}},
                        },
                    ]
                )
            }
        },
    )
    (nag,) = [p for p in result.nag_report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []


def test_shipped_configs_pull_from_the_hub_without_s3_permissions(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.INFERENCE_STACK)
    assert "ModelDataSource" not in json.dumps(template)
    assert "s3:GetObject" not in json.dumps(template)
