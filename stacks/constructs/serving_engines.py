"""What each LLM serving engine needs: its DLC image and the container environment for a config."""

from __future__ import annotations

from dataclasses import dataclass

from model_config.schema import LlmComponent, TeiComponent
from stacks.constructs.container_images import TEI_CPU, TGI, VLLM, ImageRequest

TEI_KEY = "TeiCpu"
# SageMaker host images (ProductionVariant.InferenceAmiVersion) by the CUDA major version the LLM
# image is built for: the host's NVIDIA driver must support it. gpu-3-1 has driver 550 (CUDA
# 12.4), gpu-4-1 driver 580 (CUDA 13.0); both list ml.g5.*. Without one, ml.g5 hosts keep an older
# driver that cannot start the CUDA 13 vLLM image.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html
# (InferenceAmiVersion); AWS's own DLC tests pin the same pair per CUDA major
# (aws/deep-learning-containers test/test_utils/constants.py).
HOST_AMI_BY_CUDA_MAJOR = {
    12: "al2-ami-sagemaker-inference-gpu-3-1",
    13: "al2023-ami-sagemaker-inference-gpu-4-1",
}


@dataclass(frozen=True)
class Engine:
    """One LLM serving engine: the key of its image in the stack and its SDK framework name."""

    image_key: str
    framework: str

    def image(self, llm: LlmComponent) -> ImageRequest:
        return ImageRequest(self.image_key, self.framework, llm.image_version)


ENGINES = {"vllm": Engine("Vllm", VLLM), "tgi": Engine("Tgi", TGI)}


def tei_image(component: TeiComponent) -> ImageRequest:
    return ImageRequest(TEI_KEY, TEI_CPU, component.tei_version)


def llm_environment(llm: LlmComponent) -> dict[str, str]:
    """Every serving setting of the config, in the engine's own variables (no secrets)."""
    if llm.engine == "vllm":
        return _vllm_environment(llm)
    return _tgi_environment(llm)


def tei_environment(component: TeiComponent) -> dict[str, str]:
    return {"HF_MODEL_ID": component.model_id}


def _vllm_environment(llm: LlmComponent) -> dict[str, str]:
    # AWS's vLLM DLC turns every SM_VLLM_<NAME> variable into the server flag --<name> and adds
    # --port 8080 itself (aws/deep-learning-containers scripts/docker/vllm/sagemaker_args.py,
    # docs/vllm/configuration.md). vLLM's server answers SageMaker's GET /ping and
    # POST /invocations itself (vllm/entrypoints/sagemaker/api_router.py). No boolean flags here:
    # images before DLC PR #6564 passed "true" on as a value.
    env = {
        "SM_VLLM_MODEL": llm.model_id,
        # The name clients put in "model": the app sends RAG_MODEL_ID, the same Hub id.
        "SM_VLLM_SERVED_MODEL_NAME": llm.model_id,
        "SM_VLLM_TENSOR_PARALLEL_SIZE": str(llm.num_gpus),
        "SM_VLLM_DTYPE": llm.dtype,
        # vLLM has no separate input limit: the app keeps prompts within max_input_tokens.
        "SM_VLLM_MAX_MODEL_LEN": str(llm.max_total_tokens),
    }
    if llm.max_batched_tokens is not None:
        env["SM_VLLM_MAX_NUM_BATCHED_TOKENS"] = str(llm.max_batched_tokens)
    if llm.gpu_memory_utilization is not None:
        env["SM_VLLM_GPU_MEMORY_UTILIZATION"] = str(llm.gpu_memory_utilization)
    if llm.quantize:
        env["SM_VLLM_QUANTIZATION"] = llm.quantize
    return env


def _tgi_environment(llm: LlmComponent) -> dict[str, str]:
    # The TGI DLC's entrypoint maps SM_NUM_GPUS to NUM_SHARD and HF_MODEL_QUANTIZE to QUANTIZE;
    # the rest are text-generation-launcher's own variables.
    env = {
        "HF_MODEL_ID": llm.model_id,
        "SM_NUM_GPUS": str(llm.num_gpus),
        "DTYPE": llm.dtype,
        "MAX_INPUT_TOKENS": str(llm.max_input_tokens),
        "MAX_TOTAL_TOKENS": str(llm.max_total_tokens),
    }
    if llm.max_batched_tokens is not None:
        env["MAX_BATCH_PREFILL_TOKENS"] = str(llm.max_batched_tokens)
    if llm.gpu_memory_utilization is not None:
        env["CUDA_MEMORY_FRACTION"] = str(llm.gpu_memory_utilization)
    if llm.quantize:
        env["HF_MODEL_QUANTIZE"] = llm.quantize
        # TGI refuses an explicit dtype together with most quantizers.
        del env["DTYPE"]
    return env
