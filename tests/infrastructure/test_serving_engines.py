"""vLLM (default) and TGI: the image each engine pulls, its environment, its host AMI, its role."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match
from sagemaker.core import image_uris

from model_config import DeploymentConfig, load_config
from stacks import constants
from stacks.constructs.serving_engines import llm_environment
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import as_list, statements

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
# engine -> (SDK framework, ECR repository, mapping key, the other engine's repository)
ENGINES = {
    "vllm": ("vllm", "vllm", "Vllm", "huggingface-pytorch-tgi-inference"),
    "tgi": ("huggingface-llm", "huggingface-pytorch-tgi-inference", "Tgi", "/vllm"),
}
SHIPPED_ENGINES = {"twin-llama-3.1-8b": "vllm", "qwen2.5-32b": "vllm", "smollm2-1.7b": "tgi"}
HOST_AMIS = {
    "vllm": "al2023-ami-sagemaker-inference-gpu-4-1",  # CUDA 13 image: NVIDIA driver 580
    "tgi": "al2-ami-sagemaker-inference-gpu-3-1",  # CUDA 12.4 image: NVIDIA driver 550
}


def with_llm(config: DeploymentConfig, **changes: object) -> DeploymentConfig:
    return config.model_copy(update={"llm": config.llm.model_copy(update=changes)})


def test_shipped_configs_use_the_engines_the_docs_promise() -> None:
    assert {name: load_config(name).llm.engine for name in SHIPPED_ENGINES} == SHIPPED_ENGINES
    # vLLM is the default when a config does not say.
    assert DeploymentConfig.model_fields["llm"].annotation.model_fields["engine"].default == "vllm"  # type: ignore[union-attr]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_environment_agnostic_image_comes_from_the_sdk_table(synth: Synth, model: str) -> None:
    result = synth(model)
    engine = result.config.llm.engine
    framework, repository, key, _ = ENGINES[engine]
    version = result.config.llm.image_version
    template = result.template_json(constants.INFERENCE_STACK)
    (mapping_id, mapping) = next(iter(template["Mappings"].items()))
    for region in ("us-east-1", "eu-central-1", "ap-northeast-1"):
        uri = image_uris.retrieve(framework, region=region, version=version)
        assert mapping[region][f"{key}Uri"] == uri
        assert uri.split("/", 1)[1].startswith(f"{repository}:")
        assert mapping[region][f"{key}Repository"].endswith(f":repository/{repository}")
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {"Image": {"Fn::FindInMap": [mapping_id, {"Ref": "AWS::Region"}, f"{key}Uri"]}}
            )
        },
    )


def test_default_vllm_image_is_awss_vllm_dlc_0_30(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b", region="eu-west-1")
    assert result.config.llm.image_version == "0.30.0"
    expected = image_uris.retrieve("vllm", region="eu-west-1", version="0.30.0")
    assert expected.endswith("/vllm:0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker")
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": Match.object_like({"Image": expected})}
    )


def test_tgi_config_gets_the_tgi_dlc_for_its_region(synth: Synth) -> None:
    result = synth("smollm2-1.7b", region="eu-west-1")
    expected = image_uris.retrieve("huggingface-llm", region="eu-west-1", version="3.3.6")
    assert "/huggingface-pytorch-tgi-inference:" in expected
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": Match.object_like({"Image": expected})}
    )


@pytest.mark.parametrize("model", ["twin-llama-3.1-8b", "qwen2.5-32b"])
def test_vllm_environment_maps_every_config_field(synth: Synth, model: str) -> None:
    result = synth(model)
    llm = result.config.llm
    assert llm.max_batched_tokens is not None
    assert llm.gpu_memory_utilization is not None
    expected = {
        "SM_VLLM_MODEL": llm.model_id,
        "SM_VLLM_SERVED_MODEL_NAME": llm.model_id,
        "SM_VLLM_TENSOR_PARALLEL_SIZE": str(llm.num_gpus),
        "SM_VLLM_DTYPE": llm.dtype,
        "SM_VLLM_MAX_MODEL_LEN": str(llm.max_total_tokens),
        "SM_VLLM_MAX_NUM_BATCHED_TOKENS": str(llm.max_batched_tokens),
        "SM_VLLM_GPU_MEMORY_UTILIZATION": str(llm.gpu_memory_utilization),
    }
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model",
        {"PrimaryContainer": Match.object_like({"Environment": Match.object_equals(expected)})},
    )


def test_tgi_environment_maps_every_config_field(synth: Synth) -> None:
    result = synth("smollm2-1.7b")
    llm = result.config.llm
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {
                    "Environment": Match.object_equals(
                        {
                            "HF_MODEL_ID": llm.model_id,
                            "SM_NUM_GPUS": str(llm.num_gpus),
                            "DTYPE": llm.dtype,
                            "MAX_INPUT_TOKENS": str(llm.max_input_tokens),
                            "MAX_TOTAL_TOKENS": str(llm.max_total_tokens),
                        }
                    )
                }
            )
        },
    )


def test_optional_fields_reach_each_engine_under_its_own_names() -> None:
    base = load_config("smollm2-1.7b").llm
    tgi = base.model_copy(
        update={"max_batched_tokens": 8192, "gpu_memory_utilization": 0.85, "quantize": "eetq"}
    )
    env = llm_environment(tgi)
    assert env["MAX_BATCH_PREFILL_TOKENS"] == "8192"
    assert env["CUDA_MEMORY_FRACTION"] == "0.85"
    assert env["HF_MODEL_QUANTIZE"] == "eetq"
    # TGI refuses an explicit dtype with most quantizers.
    assert "DTYPE" not in env

    vllm = base.model_copy(
        update={
            "engine": "vllm",
            "max_batched_tokens": 1024,
            "gpu_memory_utilization": 0.8,
            "quantize": "awq",
        }
    )
    env = llm_environment(vllm)
    assert env["SM_VLLM_MAX_NUM_BATCHED_TOKENS"] == "1024"
    assert env["SM_VLLM_GPU_MEMORY_UTILIZATION"] == "0.8"
    assert env["SM_VLLM_QUANTIZATION"] == "awq"
    assert env["SM_VLLM_DTYPE"] == base.dtype
    # Unset optional fields leave the engine's own defaults.
    plain = llm_environment(base.model_copy(update={"engine": "vllm"}))
    assert not {"SM_VLLM_MAX_NUM_BATCHED_TOKENS", "SM_VLLM_QUANTIZATION"} & set(plain)
    assert not [name for name in plain if not name.startswith("SM_VLLM_")]


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
def test_engine_can_be_switched_in_the_config(synth: Synth, engine: str) -> None:
    config = with_llm(load_config("smollm2-1.7b"), engine=engine)
    _, repository, key, other = ENGINES[engine]
    result = synth(config)
    template = result.template_json(constants.INFERENCE_STACK)
    (mapping,) = template["Mappings"].values()
    assert f":repository/{repository}" in mapping["us-east-1"][f"{key}Repository"]
    # The other engine's image and repository appear nowhere.
    assert other not in json.dumps(template)


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_host_ami_has_a_driver_for_the_llm_images_cuda(synth: Synth, model: str) -> None:
    result = synth(model)
    result.template(constants.INFERENCE_STACK).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like({"InferenceAmiVersion": HOST_AMIS[result.config.llm.engine]})
            ]
        },
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_execution_role_pulls_only_the_repositories_in_use(synth: Synth, model: str) -> None:
    result = synth(model)
    _, _, key, _ = ENGINES[result.config.llm.engine]
    template = result.template_json(constants.INFERENCE_STACK)
    (mapping_id,) = template["Mappings"]
    (pull,) = [s for s in statements(template) if s.get("Sid") == "PullDlcImages"]
    assert as_list(pull["Resource"]) == [
        {"Fn::FindInMap": [mapping_id, {"Ref": "AWS::Region"}, f"{key}Repository"]},
        {"Fn::FindInMap": [mapping_id, {"Ref": "AWS::Region"}, "TeiCpuRepository"]},
    ]


def test_region_specific_role_names_the_repository_arns(synth: Synth) -> None:
    result = synth("qwen2.5-32b", region="eu-west-1")
    template = result.template_json(constants.INFERENCE_STACK)
    (pull,) = [s for s in statements(template) if s.get("Sid") == "PullDlcImages"]
    images = [
        image_uris.retrieve("vllm", region="eu-west-1", version="0.30.0"),
        image_uris.retrieve("huggingface-tei-cpu", region="eu-west-1", version="1.8.2"),
    ]
    assert pull["Resource"] == [repository_arn(uri) for uri in images]
    assert pull["Resource"][0].endswith(":repository/vllm")


def repository_arn(uri: str) -> str:
    """<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> -> the repository's ARN."""
    registry, path = uri.split("/", 1)
    account, _, _, region = registry.split(".")[:4]
    return f"arn:aws:ecr:{region}:{account}:repository/{path.split(':')[0]}"
