"""The RAG app on Lambda: code, settings from the model config, and least-privilege IAM."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from model_config.runtime_env import rag_environment
from model_config.schema import DeploymentConfig
from stacks.compliance import acknowledge, resource_finding
from stacks.constructs.lambda_bundling import lambda_code

RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLER = "rag_app.handler.handler"
OPIK_REQUIREMENTS = "requirements-opik.txt"
ALIAS_NAME = "live"
# Seconds the Lambda keeps after the app's own deadline to send its 504 answer.
DEADLINE_MARGIN_S = 3
SERVICE_NAME = "llm-twin-rag"
METRICS_NAMESPACE = "LlmTwin"
LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


class RagFunction(Construct):
    """The FastAPI RAG app behind Mangum, allowed to call one endpoint and read one secret."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        endpoint_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        api = config.api
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION[api.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the LLM Twin RAG API",
        )
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
        architecture = ARCHITECTURES[api.lambda_architecture]
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=lambda_code(RUNTIME, architecture, (OPIK_REQUIREMENTS,) if opik_secret else ()),
            memory_size=api.lambda_memory_mb,
            timeout=cdk.Duration.seconds(int(api.request_timeout_s) + DEADLINE_MARGIN_S),
            environment=environment,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if api.snapstart else None,
            description=f"LLM Twin RAG API for {config.name}",
        )
        # API Gateway calls the alias, so SnapStart and provisioned concurrency apply.
        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=api.provisioned_concurrency or None,
        )
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name
        )
        secret_names = [config.retrieval.qdrant_secret_name]
        if opik_secret:
            secret_names.append(opik_secret)
        self._grant_least_privilege([_secret_arn(stack, name) for name in secret_names])

    def _grant_least_privilege(self, secret_arns: list[str]) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeOwnEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[self.endpoint_arn],
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
