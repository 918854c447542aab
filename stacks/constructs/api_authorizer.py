"""REQUEST authorizers that find the API key in the header each route family documents."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from model_config.schema import Api
from stacks.compliance import acknowledge, resource_finding
from stacks.constructs.lambda_bundling import LAMBDA_SRC
from stacks.constructs.log_groups import owned_log_group
from stacks.constructs.rag_function import ARCHITECTURES, RUNTIME

SOURCE = LAMBDA_SRC / "authorizer"
HANDLER = "handler.handler"
# The identity source of each route family: OpenAI clients send a bearer token.
BEARER_HEADER = "Authorization"
API_KEY_HEADER = "x-api-key"
# Finding a key in a header needs little time or memory.
MEMORY_MB = 128
TIMEOUT_S = 3


class ApiKeyAuthorizer(Construct):
    """One function, two authorizers: `Authorization: Bearer <key>` for /v1/*, `x-api-key` elsewhere.

    Either hands API Gateway the usage plan's key (key source AUTHORIZER). Each names its header
    as identity source, so API Gateway answers a request without it with 401 before any
    invocation, and reuses an answer for the same header value for the configured TTL.
    """

    def __init__(self, scope: Construct, construct_id: str, *, api: Api) -> None:
        super().__init__(scope, construct_id)
        self.log_group = owned_log_group(self, "Logs", retention_days=api.log_retention_days)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Finds the API key in requests to the LLM Twin API",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "IAM5",
            "Lambda names the log streams inside the function's own log group at run time",
            findings=[resource_finding(self, self.log_group.log_group_arn)],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURES[api.lambda_architecture],
            handler=HANDLER,
            # Standard library only: the folder is the package, no bundling.
            code=lambda_.Code.from_asset(str(SOURCE), exclude=["**/__pycache__", "**/*.pyc"]),
            memory_size=MEMORY_MB,
            timeout=cdk.Duration.seconds(TIMEOUT_S),
            role=role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description="API key authorizer for the LLM Twin API",
        )
        ttl = cdk.Duration.seconds(api.authorizer_cache_ttl_s)
        self.bearer = apigw.RequestAuthorizer(
            self,
            "BearerAuthorizer",
            handler=self.function,
            identity_sources=[apigw.IdentitySource.header(BEARER_HEADER)],
            results_cache_ttl=ttl,
        )
        self.api_key = apigw.RequestAuthorizer(
            self,
            "ApiKeyHeaderAuthorizer",
            handler=self.function,
            identity_sources=[apigw.IdentitySource.header(API_KEY_HEADER)],
            results_cache_ttl=ttl,
        )
