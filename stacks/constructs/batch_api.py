"""OpenAI's Batch API on AWS: storage, the batch run, the API's routes and their permissions."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks.compliance import acknowledge, resource_finding
from stacks.constructs.batch_storage import BatchStorage
from stacks.constructs.batch_workflow import BatchWorkflow, state_machine_name
from stacks.constructs.rag_function import RagFunction

# The app's object keys (rag_app.batch.aws_store.file_key).
FILES_PREFIX = "files/"
TABLE_READ_WRITE = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
]


class BatchUnit(Construct):
    """Bucket, table, state machine and line Lambda; `serve_from` lets an API function use them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, endpoint_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.storage = BatchStorage(self, "Storage", batch=config.batch)
        name = state_machine_name(config)
        self.state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.executions_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.environment = {
            "RAG_BATCH_BUCKET": self.storage.bucket.bucket_name,
            "RAG_BATCH_TABLE": self.storage.table.table_name,
            "RAG_BATCH_STATE_MACHINE_ARN": self.state_machine_arn,
            "RAG_BATCH_RETENTION_DAYS": str(config.batch.retention_days),
        }
        self.workflow = BatchWorkflow(
            self,
            "Workflow",
            config=config,
            endpoint_name=endpoint_name,
            storage=self.storage,
            environment=self.environment,
        )
        self.state_machine = self.workflow.state_machine
        self._grant_storage(self.workflow.runner, delete=False)
        self._acknowledge_state_machine_findings()

    def serve_from(self, function: RagFunction) -> None:
        """Give an API function the settings and permissions the /v1/files and /v1/batches
        routes need: the store, and starting and stopping this state machine's executions."""
        for name, value in self.environment.items():
            function.function.add_environment(name, value)
        self._grant_storage(function, delete=True)
        function.role.add_to_policy(
            iam.PolicyStatement(
                sid="StartBatchRuns",
                actions=["states:StartExecution"],
                resources=[self.state_machine_arn],
            )
        )
        function.role.add_to_policy(
            iam.PolicyStatement(
                sid="StopBatchRuns",
                actions=["states:StopExecution"],
                resources=[self.executions_arn],
            )
        )
        acknowledge(
            function.role.node.find_child("DefaultPolicy"),
            "IAM5",
            "An execution is named after its batch at run time; the wildcard covers only the "
            "executions of the batch state machine",
            findings=[resource_finding(self, self.executions_arn)],
        )

    def add_routes(self, openai: apigw.IResource, integration: apigw.Integration) -> None:
        """OpenAI's Files and Batches routes under /v1 (which carries the Bearer authorizer)."""
        files = openai.add_resource("files")
        files.add_method("POST", integration)
        files.add_method("GET", integration)
        file = files.add_resource("{file_id}")
        file.add_method("GET", integration)
        file.add_method("DELETE", integration)
        file.add_resource("content").add_method("GET", integration)
        batches = openai.add_resource("batches")
        batches.add_method("POST", integration)
        batches.add_method("GET", integration)
        batch = batches.add_resource("{batch_id}")
        batch.add_method("GET", integration)
        batch.add_resource("cancel").add_method("POST", integration)

    def _grant_storage(self, function: RagFunction, *, delete: bool) -> None:
        bucket = self.storage.bucket
        objects = bucket.arn_for_objects(f"{FILES_PREFIX}*")
        actions = ["s3:GetObject", "s3:PutObject"] + (["s3:DeleteObject"] if delete else [])
        function.role.add_to_policy(
            iam.PolicyStatement(sid="BatchFiles", actions=actions, resources=[objects])
        )
        table_actions = TABLE_READ_WRITE + (["dynamodb:DeleteItem"] if delete else [])
        function.role.add_to_policy(
            iam.PolicyStatement(
                sid="BatchRecords",
                actions=table_actions,
                resources=[self.storage.table.table_arn, self.storage.index_arn],
            )
        )
        acknowledge(
            function.role.node.find_child("DefaultPolicy"),
            "IAM5",
            "Batch files are objects named by file id at run time, all under files/ of the "
            "batch bucket",
            findings=[resource_finding(self, objects)],
        )

    def _acknowledge_state_machine_findings(self) -> None:
        """The wildcards the Step Functions constructs grant the state machine, one by one."""
        state_machine = self.state_machine
        acknowledge(
            state_machine.role.node.find_child("DefaultPolicy"),
            "IAM5",
            "X-Ray's trace APIs and CloudWatch Logs' log-delivery APIs accept no resource ARN; "
            "the Distributed Map reads any input file and writes its results in the batch "
            "bucket, whose object keys are only known at run time",
            findings=[
                "Resource::*",
                # The Step Functions constructs name the bucket by name, not by its ARN.
                resource_finding(
                    self, f"arn:{cdk.Aws.PARTITION}:s3:::{self.storage.bucket.bucket_name}/*"
                ),
            ],
        )
        # The execution ARNs of this state machine, its name taken from its ARN.
        logical_id = cdk.Stack.of(self).resolve(
            cdk.Stack.of(self).get_logical_id(state_machine.node.default_child)  # type: ignore[arg-type]
        )
        name = json.dumps(
            {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": logical_id}]}]}, separators=(",", ":")
        )
        stack = cdk.Stack.of(self)
        region = "<AWS::Region>" if cdk.Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if cdk.Token.is_unresolved(stack.account) else stack.account
        executions = f"arn:<AWS::Partition>:states:{region}:{account}:execution"
        acknowledge(
            state_machine.node.find_child("DistributedMapPolicy"),
            "IAM5",
            "The Distributed Map starts, watches and stops its own child executions, named at "
            "run time: the wildcards cover only this state machine's executions",
            findings=[f"Resource::{executions}:{name}:*", f"Resource::{executions}:{name}/*:*"],
        )
