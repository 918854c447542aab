"""Schema of a model deployment config: every field the stacks and the RAG app read."""

from __future__ import annotations

import math
import re
import string
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from model_config.app_limits import (
    BUFFERED_INTEGRATION_TIMEOUT_S,
    DEADLINE_MARGIN_S,
    MAX_K,
    MAX_PHRASINGS,
    MAX_REQUEST_TIMEOUT_S,
    MAX_STREAM_TIMEOUT_S,
    STREAM_INTEGRATION_TIMEOUT_MAX_S,
)
from model_config.instances import INSTANCES

HF_MODEL_ID = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"
# A browser origin: scheme and host (and port), no path; "*" is not accepted.
CORS_ORIGIN = r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$"
# SageMaker resource names: letters, digits and single hyphens, at most 63 characters.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
# The placeholders each prompt format fills in.
TEMPLATE_FIELDS = {"context", "query"}
SYSTEM_PROMPT_FIELDS = {"context"}
HELPER_PROMPT_FIELDS = {"query_expansion_prompt": {"query", "n"}, "self_query_prompt": {"query"}}

Engine = Literal["vllm", "tgi"]
# Image versions from the pinned sagemaker-core table (vllm.json, huggingface-llm.json).
DEFAULT_ENGINE_VERSIONS: dict[str, str] = {"vllm": "0.30.0", "tgi": "3.3.6"}
# Quantization methods each engine loads: TGI alone has EETQ, and vLLM 0.30 dropped
# bitsandbytes (vllm/model_executor/layers/quantization/__init__.py lists the rest).
QUANTIZERS: dict[str, frozenset[str]] = {
    "vllm": frozenset({"awq", "gptq", "fp8"}),
    "tgi": frozenset({"awq", "gptq", "eetq", "fp8", "bitsandbytes"}),
}

PositiveInt = Annotated[int, Field(gt=0)]
# CloudFormation bounds of an inference component's startup timeouts.
StartupSeconds = Annotated[int, Field(ge=60, le=3600)]
# The retention periods CloudWatch Logs accepts (up to a year).
RetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365]

# Rolling updates of an inference component, InferenceComponentRollingUpdatePolicy in
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentRollingUpdatePolicy.html:
# a batch is 5-50 % of the copy count; the whole update may take 600-28800 s.
ROLLING_BATCH_PERCENT = 50
# Seconds SageMaker watches each new batch before it moves on (the API allows 0-3600).
ROLLING_WAIT_S = 60
ROLLING_TIMEOUT_MIN_S = 600
ROLLING_TIMEOUT_MAX_S = 28_800


# Sizing an LLM copy's start from its weights. The engines pull the weights from the Hub inside
# the container, and that counts against the startup health check, not the download timeout
# (ModelDataDownloadTimeoutInSeconds covers model data from S3 only). Conservative rates, not
# measurements: a sustained Hub download, loading the shards onto the GPUs, and the engine's
# own start (CUDA graphs, warm-up), with a quarter on top.
HUB_DOWNLOAD_MB_PER_S = 50
GPU_LOAD_GB_PER_S = 0.5
ENGINE_START_S = 420
STARTUP_SAFETY = 1.25
MAX_STARTUP_S = 3600
# SageMaker's own copy of S3 model data (llm.weights_s3_uri), before the container starts.
S3_DOWNLOAD_MB_PER_S = 100
# An S3 prefix of uncompressed model files: s3://bucket/key/prefix/ (SageMaker's S3Prefix).
S3_PREFIX = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/]+/)+$"


def startup_timeout_for(weights_gb: float, *, from_hub: bool = True) -> int:
    """Seconds an LLM copy with `weights_gb` of weights may need to pass its health check.

    `from_hub`: the engine downloads the weights itself during the check (no S3 model data).
    """
    download_s = weights_gb * 1000 / HUB_DOWNLOAD_MB_PER_S if from_hub else 0
    load_s = weights_gb / GPU_LOAD_GB_PER_S
    return math.ceil(STARTUP_SAFETY * (ENGINE_START_S + download_s + load_s))


def s3_download_timeout_for(weights_gb: float) -> int:
    """Seconds SageMaker may need to copy `weights_gb` of S3 model data onto the instance."""
    return math.ceil(STARTUP_SAFETY * weights_gb * 1000 / S3_DOWNLOAD_MB_PER_S)


def _rolling_batches(max_copies: int) -> int:
    """Most batches a rolling update needs for any copy count up to `max_copies`."""
    return max(
        math.ceil(copies / max(1, copies * ROLLING_BATCH_PERCENT // 100))
        for copies in range(1, max_copies + 1)
    )


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

    @property
    def copy_start_limit_s(self) -> int:
        """Longest a new copy may take to come up before SageMaker gives up on it."""
        return self.model_download_timeout_s + self.startup_health_check_timeout_s

    @property
    def rolling_update_s(self) -> int:
        """Longest a rolling update of every copy can take: batches x (download + start + bake)."""
        per_batch = self.copy_start_limit_s
        return _rolling_batches(self.scaling.max_copies) * (per_batch + ROLLING_WAIT_S)

    @property
    def rolling_update_timeout_s(self) -> int:
        """The update's time limit: room for every batch, within what SageMaker accepts.

        Always fits: half the copies per batch means at most 3 batches, and each takes at most
        2 x 3600 + 60 s, so 21,780 s stays below SageMaker's 28,800 s.
        """
        return max(self.rolling_update_s, ROLLING_TIMEOUT_MIN_S)


class LlmComponent(Compute):
    """The serving engine (vLLM or TGI) running the fine-tuned LLM."""

    # The config section, for error messages.
    ROLE: ClassVar[str] = "llm"

    model_id: Annotated[str, Field(pattern=HF_MODEL_ID)]
    engine: Engine = "vllm"
    # None: the engine's version in DEFAULT_ENGINE_VERSIONS.
    engine_version: str | None = None
    num_gpus: PositiveInt = 1
    dtype: Literal["bfloat16", "float16"] = "bfloat16"
    quantize: Literal["awq", "gptq", "eetq", "fp8", "bitsandbytes"] | None = None
    max_input_tokens: PositiveInt = 2048
    max_total_tokens: PositiveInt = 4096
    # Tokens one forward pass may batch (vLLM --max-num-batched-tokens, TGI's prefill cap).
    max_batched_tokens: PositiveInt | None = None
    # Share of each GPU's memory the engine may take (weights plus KV cache).
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] | None = None
    # Name of a Secrets Manager secret holding a Hugging Face token (gated models).
    hf_token_secret_name: str | None = None
    # Size of the weights; sizes startup_health_check_timeout_s (and the S3 download's).
    weights_gb: Annotated[float, Field(gt=0)] | None = None
    # Optional: an S3 prefix holding the weights uncompressed (as on the Hub). SageMaker copies
    # them to /opt/ml/model before the container starts, within model_download_timeout_s, and
    # the engine loads them from there: the health check then covers loading only. Unset: the
    # engine pulls model_id from the Hub during the health check.
    weights_s3_uri: Annotated[str, Field(pattern=S3_PREFIX)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _startup_timeout_from_weights(cls, data: object) -> object:
        # Unset: as long as the weights need (within SageMaker's 3600 s; above fails below).
        if isinstance(data, dict) and "startup_health_check_timeout_s" not in data:
            weights_gb = data.get("weights_gb")
            if isinstance(weights_gb, int | float) and weights_gb > 0:
                from_hub = not data.get("weights_s3_uri")
                needed = startup_timeout_for(weights_gb, from_hub=from_hub)
                startup_s = min(MAX_STARTUP_S, max(600, needed))
                data = {**data, "startup_health_check_timeout_s": startup_s}
        return data

    @model_validator(mode="after")
    def _startup_covers_the_weights(self) -> LlmComponent:
        if self.weights_gb is None:
            return self
        role = self.ROLE
        from_hub = self.weights_s3_uri is None
        needed = startup_timeout_for(self.weights_gb, from_hub=from_hub)
        if needed > MAX_STARTUP_S:
            hint = f"; set {role}.weights_s3_uri to have SageMaker copy them first"
            raise ValueError(
                f"{role}.weights_gb ({self.weights_gb}) needs about {needed} s to "
                f"{'download and ' if from_hub else ''}load, beyond SageMaker's "
                f"{MAX_STARTUP_S} s startup health check" + (hint if from_hub else "")
            )
        if self.startup_health_check_timeout_s < needed:
            where = "come from the Hub during" if from_hub else "load during"
            raise ValueError(
                f"{role}.startup_health_check_timeout_s "
                f"({self.startup_health_check_timeout_s}) is too short for {role}.weights_gb "
                f"({self.weights_gb}): the weights {where} the health check; allow at least "
                f"{needed}"
            )
        copy_s = s3_download_timeout_for(self.weights_gb)
        if not from_hub and self.model_download_timeout_s < copy_s:
            raise ValueError(
                f"{role}.model_download_timeout_s ({self.model_download_timeout_s}) is too "
                f"short to copy {role}.weights_gb ({self.weights_gb}) from "
                f"{role}.weights_s3_uri; allow at least {copy_s}"
            )
        return self

    @property
    def image_version(self) -> str:
        """The engine image version to deploy."""
        return self.engine_version or DEFAULT_ENGINE_VERSIONS[self.engine]

    @model_validator(mode="after")
    def _token_limits(self) -> LlmComponent:
        if self.max_total_tokens <= self.max_input_tokens:
            raise ValueError(
                f"max_total_tokens ({self.max_total_tokens}) must be above "
                f"max_input_tokens ({self.max_input_tokens})"
            )
        batched = self.max_batched_tokens
        # vLLM splits a long prompt over several passes (chunked prefill); TGI cannot.
        if self.engine == "tgi" and batched is not None and batched < self.max_input_tokens:
            raise ValueError(
                f"max_batched_tokens ({batched}) must be at least "
                f"max_input_tokens ({self.max_input_tokens}) on TGI"
            )
        return self

    @model_validator(mode="after")
    def _engine_supports_quantizer(self) -> LlmComponent:
        if self.quantize is not None and self.quantize not in QUANTIZERS[self.engine]:
            known = ", ".join(sorted(QUANTIZERS[self.engine]))
            raise ValueError(
                f"quantize {self.quantize!r} is not supported by {self.engine}; use one of {known}"
            )
        return self


class HelperComponent(LlmComponent):
    """An optional small instruct model for the helper calls (query expansion, self-query).

    Its own GPU(s) and copies: helper calls stop queueing behind answers on the LLM, at the
    price of a GPU that bills while a copy is up.
    """

    ROLE: ClassVar[str] = "helper"
    # chat: the engine applies the model's own chat template (what an instruct model wants);
    # template: the helper prompt goes as plain text, for a model without one.
    prompt_format: Literal["template", "chat"] = "chat"
    # Stop sequences of the helper's answers (at most 4, the engines' common limit).
    stop: Annotated[list[str], Field(max_length=4)] = []


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
    # Minutes after the last endpoint operation before an instance without copies is released
    # (ScaleInPolicy CooldownInMinutes: 5-1440, SageMaker's default 20).
    instance_release_cooldown_min: Annotated[int, Field(ge=5, le=1440)] = 10
    # Retention of the endpoint's and its components' container logs.
    log_retention_days: RetentionDays = 30

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
    # 5, not the reference's 3: on the evaluation set (README, Evaluating quality) 5 chunks found
    # a labelled document for 8.6 points more questions and raised MRR, for 2 more chunks.
    top_k: Annotated[int, Field(ge=1, le=MAX_K)] = 5
    # Secrets Manager secret with {"url": ..., "api_key": ...} for the Qdrant cluster.
    qdrant_secret_name: str = "llm-twin/qdrant"  # noqa: S105 - a name, not a value
    # Conservative estimate used to fit context into the LLM's input budget.
    chars_per_token: Annotated[float, Field(gt=0.5, le=8)] = 3.0
    # Phrasings searched per question, the question included (1: no query expansion);
    # the LLM writes the others.
    query_expansion: Annotated[int, Field(ge=1, le=MAX_PHRASINGS)] = 1
    # The LLM reads the author a question names, and the search is filtered on them.
    self_query: bool = False
    # How the phrasings' rankings merge without a reranker: reciprocal rank fusion, or each
    # point's best score.
    fusion: Literal["rrf", "max"] = "rrf"
    # The helper prompts; None keeps the app's own (lambda_src/rag_app/retrieval/).
    query_expansion_prompt: str | None = None
    self_query_prompt: str | None = None
    # Each helper call's time budget; it must leave the answer room within api.request_timeout_s.
    helper_timeout_s: Annotated[float, Field(gt=0)] = 5.0

    @model_validator(mode="after")
    def _helper_prompts(self) -> Retrieval:
        for name, wanted in HELPER_PROMPT_FIELDS.items():
            text = getattr(self, name)
            if text is None:
                continue
            fields = _placeholders(f"retrieval.{name}", text)
            if fields != wanted:
                expected = " and ".join("{" + field + "}" for field in sorted(wanted))
                raise ValueError(
                    f"retrieval.{name} must use exactly the placeholders {expected}, "
                    f"found {sorted(fields) or 'none'}"
                )
        return self


class Api(Strict):
    """The public HTTPS API in front of the RAG Lambda."""

    auth: Literal["api_key", "iam"] = "api_key"
    # Per API key (the usage plan): best effort, a key meters and identifies its caller.
    rate_limit_rps: Annotated[float, Field(gt=0)] = 10
    burst_limit: PositiveInt = 20
    quota_per_day: PositiveInt = 10_000
    # Every caller together (the stage): what the Lambdas and the endpoint are sized for.
    stage_rate_limit_rps: Annotated[float, Field(gt=0)] = 50
    stage_burst_limit: PositiveInt = 100
    # Seconds API Gateway reuses an authorizer's answer for the same key header (0: never).
    authorizer_cache_ttl_s: Annotated[int, Field(ge=0, le=3600)] = 300
    lambda_memory_mb: Annotated[int, Field(ge=128, le=10240)] = 1024
    lambda_architecture: Literal["arm64", "x86_64"] = "arm64"
    # The RAG app's own deadline; the Lambda and API Gateway allow a little more.
    # Upper bounds: _deadlines_nest explains them with the numbers that set them.
    request_timeout_s: Annotated[float, Field(ge=5)] = 25
    # Streamed routes (/v1/chat/completions) run past the 29 s limit, up to API Gateway's 15 min.
    stream_timeout_s: Annotated[int, Field(ge=30)] = 300
    # Lambda restores a primed snapshot instead of importing the app on a cold start.
    snapstart: bool = True
    provisioned_concurrency: Annotated[int, Field(ge=0)] = 0
    log_retention_days: RetentionDays = 30
    # Browser origins allowed to call the API (CORS); none by default. API Gateway answers
    # the preflight, the app adds the headers to its answers.
    cors_origins: list[Annotated[str, StringConstraints(pattern=CORS_ORIGIN)]] = []

    @property
    def lambda_timeout_s(self) -> int:
        """Timeout of the buffered (Mangum) function: the app's deadline plus its margin."""
        return math.ceil(self.request_timeout_s) + DEADLINE_MARGIN_S

    @property
    def stream_lambda_timeout_s(self) -> int:
        """Timeout of the streaming (Web Adapter) function."""
        return self.stream_timeout_s + DEADLINE_MARGIN_S

    @property
    def stream_integration_timeout_s(self) -> int:
        """API Gateway's timeout for the streamed routes, just past the function's."""
        return self.stream_lambda_timeout_s + 1

    @model_validator(mode="after")
    def _lambda_start_options_combine(self) -> Api:
        self.check_lambda_start_options()
        return self

    def check_lambda_start_options(self) -> None:
        """Lambda refuses a version with SnapStart and provisioned concurrency: fail at synth."""
        if self.snapstart and self.provisioned_concurrency:
            raise ValueError(
                "api.snapstart and api.provisioned_concurrency "
                f"({self.provisioned_concurrency}) cannot be combined: Lambda refuses "
                "SnapStart with provisioned concurrency; set snapstart to false or "
                "provisioned_concurrency to 0"
            )

    @model_validator(mode="after")
    def _stage_limit_covers_one_key(self) -> Api:
        # The stage limit applies to all callers together: below one key's it would cap that
        # key at the stage's rate and make the plan's figure a promise it cannot keep.
        if self.stage_rate_limit_rps < self.rate_limit_rps:
            raise ValueError(
                f"api.stage_rate_limit_rps ({self.stage_rate_limit_rps}) is below the per-key "
                f"api.rate_limit_rps ({self.rate_limit_rps})"
            )
        if self.stage_burst_limit < self.burst_limit:
            raise ValueError(
                f"api.stage_burst_limit ({self.stage_burst_limit}) is below the per-key "
                f"api.burst_limit ({self.burst_limit})"
            )
        return self

    @model_validator(mode="after")
    def _deadlines_nest(self) -> Api:
        # app deadline < Lambda timeout < integration timeout, or callers get a dropped
        # connection instead of the app's own error answer.
        if self.lambda_timeout_s >= BUFFERED_INTEGRATION_TIMEOUT_S:
            most = MAX_REQUEST_TIMEOUT_S
            raise ValueError(
                f"request_timeout_s ({self.request_timeout_s}) gives the Lambda a "
                f"{self.lambda_timeout_s} s timeout, not below API Gateway's "
                f"{BUFFERED_INTEGRATION_TIMEOUT_S} s integration timeout; use at most {most}"
            )
        if self.stream_integration_timeout_s > STREAM_INTEGRATION_TIMEOUT_MAX_S:
            most = MAX_STREAM_TIMEOUT_S
            raise ValueError(
                f"stream_timeout_s ({self.stream_timeout_s}) leaves no room below API "
                f"Gateway's {STREAM_INTEGRATION_TIMEOUT_MAX_S} s streaming limit for the "
                f"Lambda's margin; use at most {most}"
            )
        return self


class Monitoring(Strict):
    """Alarm thresholds, where alarms go and the optional monthly budget."""

    alarm_email: str | None = None
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = None
    api_p95_latency_ms: PositiveInt = 15_000
    api_5xx_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5
    # Name of a Secrets Manager secret with Opik settings; unset keeps Opik off.
    opik_secret_name: str | None = None


class Backoff(Strict):
    """How a batch line waits before another try (Step Functions' Retry fields)."""

    interval_s: Annotated[int, Field(ge=1, le=3600)]
    backoff_rate: Annotated[float, Field(ge=1, le=10)]
    max_attempts: Annotated[int, Field(ge=1, le=99)]
    max_delay_s: Annotated[int, Field(ge=1, le=3600)]


class BatchApi(Strict):
    """OpenAI's Batch API: its store, how many lines run at once, and their retries."""

    # S3 objects and DynamoDB items (files, batches, results) expire after this many days.
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # Keep the bucket and table on `cdk destroy` (their data outlives the stack).
    keep_on_destroy: bool = False
    # Lines in flight per batch; default: what the LLM's autoscaling can serve at most.
    max_concurrency: Annotated[int, Field(ge=1, le=10_000)] | None = None
    # A scaled-to-zero LLM takes minutes to wake: wait about 25 minutes before failing a line.
    wake_retry: Backoff = Backoff(interval_s=30, backoff_rate=1.5, max_attempts=15, max_delay_s=120)
    # Throttling and transient upstream failures.
    transient_retry: Backoff = Backoff(interval_s=2, backoff_rate=2, max_attempts=5, max_delay_s=30)


class ResourceNames(Strict):
    """Fixed SageMaker names: scaling targets and IAM policies refer to them."""

    endpoint: str
    llm_component: str
    embedding_component: str
    reranker_component: str | None
    helper_component: str | None = None

    @property
    def component_names(self) -> list[str]:
        """Every inference component on the endpoint, LLM first."""
        found = [
            self.llm_component,
            self.embedding_component,
            self.reranker_component,
            self.helper_component,
        ]
        return [name for name in found if name]


class DeploymentConfig(Strict):
    """One deployable model: the endpoint, its components and the RAG API around it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", max_length=40)]
    description: str = ""
    endpoint: Endpoint
    llm: LlmComponent
    embedding: TeiComponent = TeiComponent(model_id="sentence-transformers/all-MiniLM-L6-v2")
    reranker: TeiComponent | None = None
    # Answers the helper calls instead of the LLM component (README, Advanced RAG).
    helper: HelperComponent | None = None
    generation: Generation = Generation()
    # template: our template filled and sent as a completion; chat: messages, and the engine
    # applies the model's own chat template.
    prompt_format: Literal["template", "chat"] = "template"
    prompt_template: str | None = None
    system_prompt: str | None = None
    retrieval: Retrieval = Retrieval()
    api: Api = Api()
    monitoring: Monitoring = Monitoring()
    batch: BatchApi = BatchApi()

    @property
    def batch_concurrency(self) -> int:
        """Batch lines in flight: the config's, or max LLM copies x target requests per copy."""
        if self.batch.max_concurrency is not None:
            return self.batch.max_concurrency
        scaling = self.llm.scaling
        return math.ceil(scaling.max_copies * scaling.target_concurrent_requests_per_copy)

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
            helper_component=f"{prefix}-helper" if self.helper else None,
        )

    @property
    def components(self) -> dict[str, Compute]:
        """Every inference component on the endpoint, keyed by its role."""
        found: dict[str, Compute] = {"llm": self.llm, "embedding": self.embedding}
        if self.reranker is not None:
            found["reranker"] = self.reranker
        if self.helper is not None:
            found["helper"] = self.helper
        return found

    @property
    def gpu_components(self) -> dict[str, LlmComponent]:
        """The components that take whole GPUs, keyed by their role."""
        found = {"llm": self.llm}
        if self.helper is not None:
            found["helper"] = self.helper
        return found

    @model_validator(mode="after")
    def _fits_and_consistent(self) -> DeploymentConfig:
        self._check_gpus()
        self._check_one_copy_each_fits()
        self._check_generation_budget()
        self._check_prompt()
        self._check_helper_budget()
        self._check_scale_to_zero()
        self._check_wake_order()
        self._check_copies_fit_instances()
        if self.reranker and self.reranker.tei_version != self.embedding.tei_version:
            raise ValueError("reranker.tei_version must equal embedding.tei_version (one image)")
        return self

    def _check_copies_fit_instances(self) -> None:
        spec = INSTANCES[self.endpoint.instance_type]
        gpus_available = self.endpoint.max_instances * spec.gpus
        needed = {
            role: component.scaling.max_copies * component.num_gpus
            for role, component in self.gpu_components.items()
        }
        if sum(needed.values()) > gpus_available:
            parts = " + ".join(
                f"{role}.scaling.max_copies ({self.gpu_components[role].scaling.max_copies}) "
                f"x {role}.num_gpus ({self.gpu_components[role].num_gpus})"
                for role in needed
            )
            raise ValueError(
                f"{parts} needs {sum(needed.values())} GPUs but endpoint.max_instances "
                f"({self.endpoint.max_instances}) x {self.endpoint.instance_type} offers "
                f"{gpus_available}"
            )

    def _check_gpus(self) -> None:
        spec = INSTANCES[self.endpoint.instance_type]
        for role, component in self.gpu_components.items():
            if component.num_gpus > spec.gpus:
                raise ValueError(
                    f"{role}.num_gpus ({component.num_gpus}) is more than the "
                    f"{spec.gpus} GPU(s) of {self.endpoint.instance_type}"
                )

    def _check_one_copy_each_fits(self) -> None:
        # SageMaker must place one copy of every component. The LLM and the helper share an
        # instance only when their GPUs fit one together; otherwise each sits with the CPU ones.
        spec = INSTANCES[self.endpoint.instance_type]
        gpu_roles = list(self.gpu_components)
        cpu_roles = [role for role in self.components if role not in self.gpu_components]
        gpus = sum(component.num_gpus for component in self.gpu_components.values())
        groups = (
            [gpu_roles + cpu_roles]
            if gpus <= spec.gpus
            else [[role, *cpu_roles] for role in gpu_roles]
        )
        for group in groups:
            self._check_instance_holds(group)

    def _check_instance_holds(self, roles: list[str]) -> None:
        spec = INSTANCES[self.endpoint.instance_type]
        placed = [self.components[role] for role in roles]
        cores = sum(component.cpu_cores for component in placed)
        memory = sum(component.memory_mb for component in placed)
        which = f" ({', '.join(roles)})" if "helper" in self.components else ""
        if cores > spec.usable_vcpus:
            raise ValueError(
                f"components' cpu_cores{which} add up to {cores}, more than the "
                f"{spec.usable_vcpus} usable on {self.endpoint.instance_type}"
            )
        if memory > spec.usable_memory_mb:
            raise ValueError(
                f"components' memory_mb{which} add up to {memory}, more than the "
                f"{spec.usable_memory_mb} usable on {self.endpoint.instance_type}"
            )

    def _check_generation_budget(self) -> None:
        room = self.llm.max_total_tokens - self.llm.max_input_tokens
        if self.generation.max_new_tokens > room:
            raise ValueError(
                f"generation.max_new_tokens ({self.generation.max_new_tokens}) exceeds "
                f"llm.max_total_tokens - llm.max_input_tokens ({room})"
            )

    def _check_prompt(self) -> None:
        if self.prompt_format == "template":
            used, unused = "prompt_template", "system_prompt"
            text, wanted = self.prompt_template, TEMPLATE_FIELDS
        else:
            used, unused = "system_prompt", "prompt_template"
            text, wanted = self.system_prompt, SYSTEM_PROMPT_FIELDS
        if text is None:
            raise ValueError(f"prompt_format {self.prompt_format} needs {used}")
        if getattr(self, unused) is not None:
            raise ValueError(f"prompt_format {self.prompt_format} does not use {unused}")
        fields = _placeholders(used, text)
        if fields != wanted:
            expected = " and ".join("{" + name + "}" for name in sorted(wanted))
            raise ValueError(
                f"{used} must use exactly the placeholders {expected}, "
                f"found {sorted(fields) or 'none'}"
            )

    def _check_helper_budget(self) -> None:
        budget = self.retrieval.helper_timeout_s
        if budget >= self.api.request_timeout_s:
            raise ValueError(
                f"retrieval.helper_timeout_s ({budget}) must be below "
                f"api.request_timeout_s ({self.api.request_timeout_s})"
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

    def _check_wake_order(self) -> None:
        # Every request embeds first, so a refused embedding wakes every component (see
        # stacks/constructs/model_endpoint.py). That is only free if the others never outlast
        # the embedder: with no longer scale-in cooldown they are asleep whenever it is.
        if not self.endpoint.scale_to_zero:
            return
        limit = self.embedding.scaling.scale_in_cooldown_s
        later = [
            role
            for role, component in self.components.items()
            if component.scaling.scale_in_cooldown_s > limit
        ]
        if later:
            raise ValueError(
                f"with endpoint.scale_to_zero, {', '.join(later)}.scaling.scale_in_cooldown_s "
                f"must not exceed embedding.scaling.scale_in_cooldown_s ({limit}): a request "
                "that wakes the embedder also adds a copy to every other component"
            )


def _placeholders(field: str, text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:
        raise ValueError(f"{field} is not a valid str.format template ({err})") from None
