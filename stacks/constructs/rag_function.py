"""The RAG app on Lambda: code, settings from the model config, and least-privilege IAM."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from model_config.runtime_env import rag_environment
from model_config.schema import DeploymentConfig
from stacks.compliance import acknowledge, resource_finding
from stacks.constructs.lambda_bundling import lambda_code
from stacks.constructs.log_groups import owned_log_group

RUNTIME = lambda_.Runtime.PYTHON_3_14
MANGUM_HANDLER = "rag_app.handler.handler"
OPIK_REQUIREMENTS = "requirements-opik.txt"
ALIAS_NAME = "live"
SERVICE_NAME = "llm-twin-rag"
METRICS_NAMESPACE = "LlmTwin"
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
INVOKE = "sagemaker:InvokeEndpoint"
INVOKE_STREAM = "sagemaker:InvokeEndpointWithResponseStream"


@dataclass(frozen=True)
class Frontend:
    """How Lambda hands HTTP requests to the FastAPI app, and what that changes."""

    handler: str
    timeout_s: int
    description: str
    # The SageMaker runtime calls the app makes behind this frontend.
    invoke_actions: tuple[str, ...] = (INVOKE,)
    environment: dict[str, str] = field(default_factory=dict)
    layers: tuple[lambda_.ILayerVersion, ...] = ()


def mangum_frontend(config: DeploymentConfig) -> Frontend:
    """Buffered answers through Mangum, within API Gateway's 29 s."""
    return Frontend(
        handler=MANGUM_HANDLER,
        timeout_s=config.api.lambda_timeout_s,
        description=f"LLM Twin RAG API for {config.name}",
    )


def rag_app_environment(config: DeploymentConfig) -> dict[str, str]:
    """What every function running the RAG app gets, whatever its frontend."""
    environment = {
        **rag_environment(config),
        # Only the secret's name: the app reads URL and API key at first use.
        "RAG_QDRANT_SECRET_ID": config.retrieval.qdrant_secret_name,
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    opik_secret = config.monitoring.opik_secret_name
    if opik_secret:
        environment |= {"RAG_OPIK_ENABLED": "true", "RAG_OPIK_SECRET_ID": opik_secret}
    return environment


class RagFunction(Construct):
    """The FastAPI RAG app behind one frontend, allowed to call one endpoint and read its secrets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        endpoint_name: str,
        frontend: Frontend,
    ) -> None:
        super().__init__(scope, construct_id)
        api = config.api
        # Again here: a config changed in code (model_copy) skips the schema's validators.
        api.check_lambda_start_options()
        stack = cdk.Stack.of(self)
        self.log_group = owned_log_group(self, "Logs", retention_days=api.log_retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=frontend.description,
        )
        opik_secret = config.monitoring.opik_secret_name
        architecture = ARCHITECTURES[api.lambda_architecture]
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=architecture,
            handler=frontend.handler,
            # One package for every frontend: the same code, bundled once.
            code=lambda_code(RUNTIME, architecture, (OPIK_REQUIREMENTS,) if opik_secret else ()),
            layers=list(frontend.layers) or None,
            memory_size=api.lambda_memory_mb,
            timeout=cdk.Duration.seconds(frontend.timeout_s),
            environment={**rag_app_environment(config), **frontend.environment},
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if api.snapstart else None,
            description=frontend.description,
        )
        # API Gateway calls the alias, so SnapStart (primed by rag_app.lifecycle) or
        # provisioned concurrency applies.
        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=api.provisioned_concurrency or None,
        )
        # The endpoint and its components: the invoke actions also name the inference-component
        # resource type (Service Authorization Reference, Amazon SageMaker AI).
        self.endpoint_arns = [
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name),
            *(
                stack.format_arn(
                    service="sagemaker", resource="inference-component", resource_name=component
                )
                for component in config.names.component_names
            ),
        ]
        secret_names = [config.retrieval.qdrant_secret_name]
        if opik_secret:
            secret_names.append(opik_secret)
        self._grant_least_privilege(
            frontend.invoke_actions, [_secret_arn(stack, name) for name in secret_names]
        )

    def _grant_least_privilege(
        self, invoke_actions: tuple[str, ...], secret_arns: list[str]
    ) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                # InvokeEndpointWithResponseStream also checks sagemaker:InvokeEndpoint ("your
                # IAM permissions must allow the sagemaker:InvokeEndpoint action":
                # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointWithResponseStream.html).
                sid="InvokeOwnEndpoint",
                actions=list(invoke_actions),
                resources=self.endpoint_arns,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOwnSecrets",
                actions=["secretsmanager:GetSecretValue"],
                resources=secret_arns,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "IAM5",
            "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource ARN",
            findings=["Resource::*"],
        )
        acknowledge(
            policy,
            "IAM5",
            "Secrets Manager appends a random 6-character suffix to a secret's ARN; the "
            "wildcard matches only that suffix of the secrets named in the model config",
            findings=[resource_finding(self, arn) for arn in secret_arns],
        )
        acknowledge(
            policy,
            "IAM5",
            "Lambda names the log streams inside the function's own log group at run time",
            findings=[resource_finding(self, f"{self.log_group.log_group_arn}")],
        )


def _secret_arn(stack: cdk.Stack, name: str) -> str:
    """The ARN pattern of a secret known by name: Secrets Manager appends "-" + 6 characters."""
    return stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{name}-??????",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
