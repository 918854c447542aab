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
        # Secrets Manager appends "-" and 6 random characters to the name in the ARN.
        qdrant_secret_arn = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{config.retrieval.qdrant_secret_name}-??????",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = {
            **rag_environment(config),
            # Only the secret's name: the app reads URL and API key at first use.
            "RAG_QDRANT_SECRET_ID": config.retrieval.qdrant_secret_name,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        architecture = ARCHITECTURES[api.lambda_architecture]
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=lambda_code(RUNTIME, architecture),
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
        self._grant_least_privilege(qdrant_secret_arn)

    def _grant_least_privilege(self, qdrant_secret_arn: str) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeOwnEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[self.endpoint_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadQdrantSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[qdrant_secret_arn],
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
            "wildcard matches only that suffix of the one Qdrant secret named in the config",
            findings=[resource_finding(self, qdrant_secret_arn)],
        )
        acknowledge(
            policy,
            "IAM5",
            "Lambda names the log streams inside the function's own log group at run time",
            findings=[resource_finding(self, f"{self.log_group.log_group_arn}")],
        )
