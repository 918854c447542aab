"""Execution role least privilege, container images from the SDK table, the HF token secret."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match
from sagemaker.core import image_uris

from model_config import load_config
from stacks import constants
from stacks.constructs.container_images import TEI_CPU, TGI, VLLM, ImageRequest, image_table
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import as_list, statements

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
# The only actions AWS offers no resource-level permissions for.
ACTIONS_WITHOUT_RESOURCES = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_roles_use_no_managed_full_access_policy(synth: Synth, model: str) -> None:
    template = synth(model).template_json(constants.INFERENCE_STACK)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role":
            managed = resource["Properties"].get("ManagedPolicyArns", [])
            assert not [arn for arn in managed if "FullAccess" in str(arn)]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_wildcard_resources_only_where_aws_has_no_resource_arn(synth: Synth, model: str) -> None:
    template = synth(model).template_json(constants.INFERENCE_STACK)
    for statement in statements(template):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= ACTIONS_WITHOUT_RESOURCES, statement


def test_execution_role_is_for_sagemaker_and_metrics_stay_in_its_namespaces(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template("LlmTwinInference")
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})
                ]
            }
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
                                "Action": "cloudwatch:PutMetricData",
                                "Resource": "*",
                                "Condition": {
                                    "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}
                                },
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_execution_role_writes_only_its_own_log_groups(synth: Synth) -> None:
    result = synth("qwen2.5-32b")
    names = result.config.names
    template = result.template_json(constants.INFERENCE_STACK)
    writes = [s for s in statements(template) if "logs:PutLogEvents" in as_list(s["Action"])]
    assert len(writes) == 1
    # The stack creates the groups: no logs:CreateLogGroup, so nothing recreates them later.
    assert writes[0]["Action"] == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    groups = {
        logical_id: resource["Properties"]["LogGroupName"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    # Arn of a log group ends in ":*": the group and its streams, nothing else.
    granted = [groups[resource["Fn::GetAtt"][0]] for resource in writes[0]["Resource"]]
    assert granted == [
        f"/aws/sagemaker/Endpoints/{names.endpoint}",
        f"/aws/sagemaker/InferenceComponents/{names.llm_component}",
        f"/aws/sagemaker/InferenceComponents/{names.embedding_component}",
        f"/aws/sagemaker/InferenceComponents/{names.reranker_component}",
    ]
    assert all(resource["Fn::GetAtt"][1] == "Arn" for resource in writes[0]["Resource"])


def test_environment_agnostic_stack_maps_every_region_of_the_sdk_table(synth: Synth) -> None:
    template = synth("smollm2-1.7b").template_json(constants.INFERENCE_STACK)
    (mapping,) = template["Mappings"].values()
    config = load_config("smollm2-1.7b")
    version = config.llm.image_version
    expected = {
        "us-east-1": image_uris.retrieve(TGI, region="us-east-1", version=version),
        "eu-central-1": image_uris.retrieve(TGI, region="eu-central-1", version=version),
        "cn-north-1": image_uris.retrieve(TGI, region="cn-north-1", version=version),
    }
    for region, uri in expected.items():
        assert mapping[region]["TgiUri"] == uri
    assert mapping["cn-north-1"]["TgiUri"].split("/")[0].endswith(".amazonaws.com.cn")
    assert mapping["cn-north-1"]["TgiRepository"].startswith("arn:aws-cn:ecr:cn-north-1:")
    assert mapping["us-east-1"]["TeiCpuUri"] == image_uris.retrieve(
        TEI_CPU, region="us-east-1", version=config.embedding.tei_version
    )
    assert len(mapping) > 20


def test_vllm_mapping_covers_only_regions_with_every_image(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.INFERENCE_STACK)
    (mapping,) = template["Mappings"].values()
    tables = [
        set(
            image_uris.config_for_framework(framework)["inference"]["versions"][version][
                "registries"
            ]
        )
        for framework, version in ((VLLM, "0.30.0"), (TEI_CPU, "1.8.2"))
    ]
    assert set(mapping) == tables[0] & tables[1]
    assert len(mapping) > 20


def test_region_specific_stack_gets_plain_image_uris(synth: Synth) -> None:
    result = synth("smollm2-1.7b", region="eu-west-1")
    template = result.template_json(constants.INFERENCE_STACK)
    assert "Mappings" not in template
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "Image": image_uris.retrieve(
                        TGI, region="eu-west-1", version=result.config.llm.image_version
                    )
                }
            )
        },
    )


def test_image_table_rejects_unknown_versions() -> None:
    with pytest.raises(ValueError, match=r"huggingface-llm has no version '0\.0\.1'"):
        image_table([ImageRequest("Tgi", TGI, "0.0.1")])


def test_hf_token_is_a_secrets_manager_reference_not_a_literal(synth: Synth) -> None:
    config = load_config().model_copy(deep=True)
    gated = config.model_copy(
        update={"llm": config.llm.model_copy(update={"hf_token_secret_name": "llm-twin/hf-token"})}
    )
    template = synth(gated).template(constants.INFERENCE_STACK)
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Environment": Match.object_like(
                    {
                        "SM_VLLM_MODEL": config.llm.model_id,
                        "HF_TOKEN": {
                            "Fn::Join": [
                                "",
                                Match.array_with(
                                    [Match.string_like_regexp("resolve:secretsmanager:")]
                                ),
                            ]
                        },
                    }
                )
            }
        },
    )
