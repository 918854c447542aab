"""Where the Batch API keeps files and records: an S3 bucket and a DynamoDB table."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from model_config.schema import BatchApi
from stacks.compliance import acknowledge

# The app's table layout (lambda_src/rag_app/batch/aws_store.py).
PARTITION_KEY = "pk"
SORT_KEY = "sk"
KIND_INDEX = "by_kind"
KIND_INDEX_KEYS = ("kind", "sort")
TTL_ATTRIBUTE = "ttl"
ACCESS_LOG_PREFIX = "batch-bucket/"
ACCESS_LOGS_BY_POLICY_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


class BatchStorage(Construct):
    """The bucket (encrypted, TLS only, private, access-logged, expiring) and the table
    (on demand, point-in-time recovery, TTL); `cdk destroy` removes both unless kept."""

    def __init__(self, scope: Construct, construct_id: str, *, batch: BatchApi) -> None:
        super().__init__(scope, construct_id)
        # Access logs delivered under a bucket policy, not the legacy log-delivery ACL.
        self.node.set_context(ACCESS_LOGS_BY_POLICY_FLAG, True)
        removal = cdk.RemovalPolicy.RETAIN if batch.keep_on_destroy else cdk.RemovalPolicy.DESTROY
        self.access_logs = self._private_bucket("AccessLogs", batch, removal)
        acknowledge(
            self.access_logs,
            "S1",
            "This bucket receives the batch bucket's access logs; logging it too would "
            "only log the log writes.",
        )
        self.bucket = self._private_bucket("Bucket", batch, removal, logs_to=self.access_logs)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal,
        )
        kind, sort = KIND_INDEX_KEYS
        self.table.add_global_secondary_index(
            index_name=KIND_INDEX,
            partition_key=dynamodb.Attribute(name=kind, type=string),
            sort_key=dynamodb.Attribute(name=sort, type=string),
        )

    def _private_bucket(
        self,
        construct_id: str,
        batch: BatchApi,
        removal: cdk.RemovalPolicy,
        logs_to: s3.IBucket | None = None,
    ) -> s3.Bucket:
        """Encrypted, TLS only, never public, its objects expiring with the batch records."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=logs_to,
            server_access_logs_prefix=ACCESS_LOG_PREFIX if logs_to else None,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(batch.retention_days))],
            removal_policy=removal,
            # Emptied by a custom resource on destroy: CloudFormation cannot delete a full bucket.
            auto_delete_objects=not batch.keep_on_destroy,
        )

    @property
    def index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{KIND_INDEX}"
