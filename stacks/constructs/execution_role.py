"""The role SageMaker assumes to run the endpoint's containers: pull images, write logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.compliance import acknowledge, resource_finding


class EndpointExecutionRole(Construct):
    """Least privilege: named ECR repositories, the endpoint's own log groups, its metrics."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_arns: list[str],
        endpoint_name: str,
        log_groups: list[logs.ILogGroup],
        model_data_s3_uris: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
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
        # A log group's ARN (CloudFormation's Arn attribute) ends in ":*", the form CloudWatch
        # Logs documents for every action but tagging, so it covers the group's streams too:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html
        # The stack creates the groups, so SageMaker needs no logs:CreateLogGroup and cannot
        # recreate a group after `cdk destroy`.
        log_group_arns = [group.log_group_arn for group in log_groups]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                resources=log_group_arns,
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
        if model_data_s3_uris:
            self._read_model_data(model_data_s3_uris)
        # Resources naming the role must wait for these permissions: SageMaker checks that
        # the role can pull the image when the Model is created.
        self.policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(
            self.policy,
            "IAM5",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level "
            "permissions; PutMetricData is limited to SageMaker namespaces by condition",
            findings=["Resource::*"],
        )
        acknowledge(
            self.policy,
            "IAM5",
            "SageMaker names the log streams inside this endpoint's and its components' own "
            "log groups at run time; the log group ARN's :* covers only those streams",
            findings=[resource_finding(self, arn) for arn in log_group_arns],
        )

    def _read_model_data(self, s3_uris: tuple[str, ...]) -> None:
        """List and read only the configured prefixes (SageMaker copies them at copy start)."""
        stack = cdk.Stack.of(self)
        locations = [uri.removeprefix("s3://").split("/", 1) for uri in s3_uris]
        object_arns = [
            stack.format_arn(
                service="s3", region="", account="", resource=bucket, resource_name=f"{prefix}*"
            )
            for bucket, prefix in locations
        ]
        bucket_arns = sorted(
            {
                stack.format_arn(service="s3", region="", account="", resource=b)
                for b, _ in locations
            }
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadModelData", actions=["s3:GetObject"], resources=object_arns
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListModelData",
                actions=["s3:ListBucket"],
                resources=bucket_arns,
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for _, prefix in locations]}},
            )
        )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "IAM5",
            "The model's files are read by key under the configured S3 prefix, which only a "
            "wildcard after the prefix can name",
            findings=[resource_finding(self, arn) for arn in object_arns],
        )
