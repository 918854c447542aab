"""A REQUEST authorizer that accepts the API key the way OpenAI clients send it."""

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
# Finding a key in a header needs little time or memory.
MEMORY_MB = 128
TIMEOUT_S = 3


class ApiKeyAuthorizer(Construct):
    """`Authorization: Bearer <key>` or `x-api-key: <key>` -> the usage plan's key (key source AUTHORIZER)."""

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
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=self.function,
            # Either header may carry the key, and API Gateway requires every identity source
            # when it caches, so the result is not cached and no identity source is named.
            identity_sources=[],
            results_cache_ttl=cdk.Duration.seconds(0),
        )
        # CDK writes an empty IdentitySource; CloudFormation treats it as optional without a
        # cache, so leave it out rather than send an empty value.
        resource = self.authorizer.node.default_child
        if not isinstance(resource, apigw.CfnAuthorizer):
            raise TypeError("RequestAuthorizer no longer wraps a CfnAuthorizer")
        resource.add_property_deletion_override("IdentitySource")
