"""The role SageMaker assumes to run the endpoint's containers: pull images, write logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.compliance import acknowledge, resource_finding

# Where SageMaker writes container logs and metrics for endpoints and inference components.
LOG_GROUP_PREFIXES = ("/aws/sagemaker/Endpoints", "/aws/sagemaker/InferenceComponents")


class EndpointExecutionRole(Construct):
    """Least privilege: named ECR repositories, the endpoint's own log groups, its metrics."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_arns: list[str],
        endpoint_name: str,
        component_names: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the containers of SageMaker endpoint {endpoint_name}",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PullDlcImages",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=repository_arns,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                # GetAuthorizationToken has no resource-level permissions.
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        log_groups = [
            f"{LOG_GROUP_PREFIXES[0]}/{endpoint_name}",
            *(f"{LOG_GROUP_PREFIXES[1]}/{name}" for name in component_names),
        ]
        log_streams = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{group}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in log_groups
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=log_streams,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                # PutMetricData has no resource-level permissions; the namespace condition
                # keeps the role to SageMaker's own metric namespaces.
                sid="PutEndpointMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "IAM5",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level "
            "permissions; PutMetricData is limited to SageMaker namespaces by condition",
            findings=["Resource::*"],
        )
        acknowledge(
            policy,
            "IAM5",
            "SageMaker names the log streams inside this endpoint's and its components' own "
            "log groups at run time; the wildcard covers only those streams",
            findings=[resource_finding(self, arn) for arn in log_streams],
        )
