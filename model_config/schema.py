"""Schema of a model deployment config: every field the stacks and the RAG app read."""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from model_config.instances import INSTANCES, RESERVED_MEMORY_MB, RESERVED_VCPUS

HF_MODEL_ID = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"
# SageMaker resource names: letters, digits and single hyphens, at most 63 characters.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
PROMPT_FIELDS = {"context", "query"}

PositiveInt = Annotated[int, Field(gt=0)]
# CloudFormation bounds of an inference component's startup timeouts.
StartupSeconds = Annotated[int, Field(ge=60, le=3600)]


class Strict(BaseModel):
    """Base for every section: unknown keys are typos, so they fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Scaling(Strict):
    """Copies of one inference component and how target tracking moves them."""

    min_copies: Annotated[int, Field(ge=0)] = 1
    max_copies: PositiveInt = 4
    target_concurrent_requests_per_copy: Annotated[float, Field(gt=0)] = 4.0
    scale_in_cooldown_s: Annotated[int, Field(ge=0, le=3600)] = 300
    scale_out_cooldown_s: Annotated[int, Field(ge=0, le=3600)] = 60

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Scaling:
        if self.min_copies > self.max_copies:
            raise ValueError(
                f"min_copies ({self.min_copies}) is above max_copies ({self.max_copies})"
            )
        return self


class Compute(Strict):
    """Resources one copy of a component reserves on an instance."""

    cpu_cores: Annotated[float, Field(ge=0.25)]
    memory_mb: Annotated[int, Field(ge=128)]
    startup_health_check_timeout_s: StartupSeconds = 600
    model_download_timeout_s: StartupSeconds = 600
    scaling: Scaling = Scaling()


class LlmComponent(Compute):
    """The TGI container serving the fine-tuned LLM."""

    model_id: Annotated[str, Field(pattern=HF_MODEL_ID)]
    tgi_version: str = "3.3.6"
    num_gpus: PositiveInt = 1
    dtype: Literal["bfloat16", "float16"] = "bfloat16"
    quantize: Literal["awq", "gptq", "eetq", "fp8", "bitsandbytes"] | None = None
    max_input_tokens: PositiveInt = 2048
    max_total_tokens: PositiveInt = 4096
    max_batch_prefill_tokens: PositiveInt | None = None
    # Name of a Secrets Manager secret holding a Hugging Face token (gated models).
    hf_token_secret_name: str | None = None

    @model_validator(mode="after")
    def _token_limits(self) -> LlmComponent:
        if self.max_total_tokens <= self.max_input_tokens:
            raise ValueError(
                f"max_total_tokens ({self.max_total_tokens}) must be above "
                f"max_input_tokens ({self.max_input_tokens})"
            )
        prefill = self.max_batch_prefill_tokens
        if prefill is not None and prefill < self.max_input_tokens:
            raise ValueError(
                f"max_batch_prefill_tokens ({prefill}) must be at least "
                f"max_input_tokens ({self.max_input_tokens})"
            )
        return self


class TeiComponent(Compute):
    """A Text Embeddings Inference container on CPU cores (embedder or reranker)."""

    model_id: Annotated[str, Field(pattern=HF_MODEL_ID)]
    tei_version: str = "1.8.2"
    cpu_cores: Annotated[float, Field(ge=0.25)] = 1
    memory_mb: Annotated[int, Field(ge=128)] = 2048
    startup_health_check_timeout_s: StartupSeconds = 300
    model_download_timeout_s: StartupSeconds = 300


class Endpoint(Strict):
    """The GPU instances behind the endpoint, scaled by SageMaker as components need."""

    instance_type: str
    initial_instances: PositiveInt = 1
    min_instances: Annotated[int, Field(ge=0)] = 1
    max_instances: PositiveInt = 2
    # Lets every component, and then the instances, scale in to zero when idle.
    scale_to_zero: bool = False

    @field_validator("instance_type")
    @classmethod
    def _known_instance(cls, value: str) -> str:
        if value not in INSTANCES:
            raise ValueError(
                f"unknown instance type {value!r}; choose one of {', '.join(INSTANCES)}"
            )
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Endpoint:
        if self.min_instances > self.max_instances:
            raise ValueError(
                f"min_instances ({self.min_instances}) is above "
                f"max_instances ({self.max_instances})"
            )
        if not self.min_instances <= self.initial_instances <= self.max_instances:
            raise ValueError("initial_instances must lie between min_instances and max_instances")
        if self.scale_to_zero != (self.min_instances == 0):
            raise ValueError("min_instances is 0 exactly when scale_to_zero is true")
        return self


class Generation(Strict):
    """TGI sampling defaults; callers may override a few within these bounds."""

    max_new_tokens: PositiveInt = 256
    temperature: Annotated[float, Field(gt=0, le=2)] = 0.01
    top_p: Annotated[float, Field(gt=0, lt=1)] = 0.9
    repetition_penalty: Annotated[float, Field(gt=0)] = 1.1
    stop: list[str] = []


class Retrieval(Strict):
    """Where the RAG app looks for context and how much of it fits the prompt."""

    collections: Annotated[list[str], Field(min_length=1)] = [
        "embedded_articles",
        "embedded_posts",
        "embedded_repositories",
    ]
    top_k: Annotated[int, Field(ge=1, le=20)] = 3
    # Secrets Manager secret with {"url": ..., "api_key": ...} for the Qdrant cluster.
    qdrant_secret_name: str = "llm-twin/qdrant"  # noqa: S105 - a name, not a value
    # Conservative estimate used to fit context into the LLM's input budget.
    chars_per_token: Annotated[float, Field(gt=0.5, le=8)] = 3.0


class Api(Strict):
    """The public HTTPS API in front of the RAG Lambda."""

    auth: Literal["api_key", "iam"] = "api_key"
    rate_limit_rps: Annotated[float, Field(gt=0)] = 10
    burst_limit: PositiveInt = 20
    quota_per_day: PositiveInt = 10_000
    lambda_memory_mb: Annotated[int, Field(ge=128, le=10240)] = 1024
    lambda_architecture: Literal["arm64", "x86_64"] = "arm64"
    # The RAG app's own deadline; the Lambda and API Gateway allow a little more.
    request_timeout_s: Annotated[float, Field(ge=5, le=27)] = 25
    snapstart: bool = False
    provisioned_concurrency: Annotated[int, Field(ge=0)] = 0
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365] = 30


class Monitoring(Strict):
    """Alarm thresholds, where alarms go and the optional monthly budget."""

    alarm_email: str | None = None
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = None
    api_p95_latency_ms: PositiveInt = 15_000
    api_5xx_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5
    # Name of a Secrets Manager secret with Opik settings; unset keeps Opik off.
    opik_secret_name: str | None = None


class ResourceNames(Strict):
    """Fixed SageMaker names: scaling targets and IAM policies refer to them."""

    endpoint: str
    llm_component: str
    embedding_component: str
    reranker_component: str | None

    @property
    def component_names(self) -> list[str]:
        """Every inference component on the endpoint, LLM first."""
        found = [self.llm_component, self.embedding_component, self.reranker_component]
        return [name for name in found if name]


class DeploymentConfig(Strict):
    """One deployable model: the endpoint, its components and the RAG API around it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", max_length=40)]
    description: str = ""
    endpoint: Endpoint
    llm: LlmComponent
    embedding: TeiComponent = TeiComponent(model_id="sentence-transformers/all-MiniLM-L6-v2")
    reranker: TeiComponent | None = None
    generation: Generation = Generation()
    prompt_template: str
    retrieval: Retrieval = Retrieval()
    api: Api = Api()
    monitoring: Monitoring = Monitoring()

    @property
    def resource_prefix(self) -> str:
        """The config name made valid for SageMaker names (no dots)."""
        return self.name.replace(".", "-")

    @property
    def names(self) -> ResourceNames:
        prefix = self.resource_prefix
        return ResourceNames(
            endpoint=f"{prefix}-endpoint",
            llm_component=f"{prefix}-llm",
            embedding_component=f"{prefix}-embedding",
            reranker_component=f"{prefix}-reranker" if self.reranker else None,
        )

    @property
    def components(self) -> dict[str, Compute]:
        """Every inference component on the endpoint, keyed by its role."""
        found: dict[str, Compute] = {"llm": self.llm, "embedding": self.embedding}
        if self.reranker is not None:
            found["reranker"] = self.reranker
        return found

    @model_validator(mode="after")
    def _fits_and_consistent(self) -> DeploymentConfig:
        self._check_gpus()
        self._check_one_copy_each_fits()
        self._check_generation_budget()
        self._check_prompt_template()
        self._check_scale_to_zero()
        self._check_copies_fit_instances()
        if self.reranker and self.reranker.tei_version != self.embedding.tei_version:
            raise ValueError("reranker.tei_version must equal embedding.tei_version (one image)")
        return self

    def _check_copies_fit_instances(self) -> None:
        spec = INSTANCES[self.endpoint.instance_type]
        gpus_needed = self.llm.scaling.max_copies * self.llm.num_gpus
        gpus_available = self.endpoint.max_instances * spec.gpus
        if gpus_needed > gpus_available:
            raise ValueError(
                f"llm.scaling.max_copies ({self.llm.scaling.max_copies}) needs {gpus_needed} "
                f"GPUs but endpoint.max_instances ({self.endpoint.max_instances}) "
                f"x {self.endpoint.instance_type} offers {gpus_available}"
            )

    def _check_gpus(self) -> None:
        spec = INSTANCES[self.endpoint.instance_type]
        if self.llm.num_gpus > spec.gpus:
            raise ValueError(
                f"llm.num_gpus ({self.llm.num_gpus}) is more than the "
                f"{spec.gpus} GPU(s) of {self.endpoint.instance_type}"
            )

    def _check_one_copy_each_fits(self) -> None:
        # SageMaker must place one copy of every component on a single instance.
        spec = INSTANCES[self.endpoint.instance_type]
        cores = sum(c.cpu_cores for c in self.components.values())
        memory = sum(c.memory_mb for c in self.components.values())
        if cores > spec.vcpus - RESERVED_VCPUS:
            raise ValueError(
                f"components' cpu_cores add up to {cores}, more than the "
                f"{spec.vcpus - RESERVED_VCPUS} usable on {self.endpoint.instance_type}"
            )
        if memory > spec.memory_mb - RESERVED_MEMORY_MB:
            raise ValueError(
                f"components' memory_mb add up to {memory}, more than the "
                f"{spec.memory_mb - RESERVED_MEMORY_MB} usable on {self.endpoint.instance_type}"
            )

    def _check_generation_budget(self) -> None:
        room = self.llm.max_total_tokens - self.llm.max_input_tokens
        if self.generation.max_new_tokens > room:
            raise ValueError(
                f"generation.max_new_tokens ({self.generation.max_new_tokens}) exceeds "
                f"llm.max_total_tokens - llm.max_input_tokens ({room})"
            )

    def _check_prompt_template(self) -> None:
        fields = {name for _, name, _, _ in string.Formatter().parse(self.prompt_template) if name}
        if fields != PROMPT_FIELDS:
            raise ValueError(
                "prompt_template must use exactly the placeholders {context} and {query}, "
                f"found {sorted(fields) or 'none'}"
            )

    def _check_scale_to_zero(self) -> None:
        if not self.endpoint.scale_to_zero:
            nonzero = [r for r, c in self.components.items() if c.scaling.min_copies == 0]
            if nonzero:
                raise ValueError(
                    f"{', '.join(nonzero)}.scaling.min_copies is 0 but "
                    "endpoint.scale_to_zero is false"
                )
            return
        # One copy left anywhere keeps a whole GPU instance billing.
        awake = [r for r, c in self.components.items() if c.scaling.min_copies != 0]
        if awake:
            raise ValueError(
                f"endpoint.scale_to_zero needs {', '.join(awake)}.scaling.min_copies = 0"
            )
