"""The batch run: a Step Functions Distributed Map over the input JSONL, one Lambda per line.

The Lambda is the RAG app's third entry (rag_app.batch_handler), so each line runs through the
same chat route as the online API. Lines wait with backoff while the LLM wakes from zero,
throttling and transient failures are retried, anything else fails that line alone; a final
step writes the output and error files and ends the batch.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from model_config.schema import Backoff, DeploymentConfig
from stacks.constructs.batch_storage import BatchStorage
from stacks.constructs.log_groups import owned_log_group
from stacks.constructs.rag_function import Frontend, RagFunction

BATCH_HANDLER = "rag_app.batch_handler.handler"
# The exceptions rag_app.batch.lines raises; Step Functions matches Lambda errors by class name.
WAKING_ERRORS = ["ModelWaking"]
TRANSIENT_ERRORS = [
    "LineTransient",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]
RESULT_WRITER_V2_FLAG = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"
# Results of the map's child executions (small summaries; the lines' answers are in the table).
RESULTS_PREFIX = "map-results/"
# A batch ends within OpenAI's 24 h window (lines past it are skipped, the batch expires);
# the execution's own limit is only a backstop.
EXECUTION_TIMEOUT = cdk.Duration.hours(25)


def state_machine_name(config: DeploymentConfig) -> str:
    """Fixed, so the API can name it in its environment and IAM without a reference cycle."""
    return f"llm-twin-{config.resource_prefix}-batch"


class BatchWorkflow(Construct):
    """The batch Lambda and the state machine that drives it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        endpoint_name: str,
        storage: BatchStorage,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        # Without this flag the map renders the deprecated ResultWriter and drops the V2 one;
        # set here, before any child exists, it applies to this construct's states only.
        self.node.set_context(RESULT_WRITER_V2_FLAG, True)
        # Lines can wait for a cold start: no provisioned concurrency billing by the hour.
        api = config.api.model_copy(update={"provisioned_concurrency": 0})
        self.runner = RagFunction(
            self,
            "LineFunction",
            config=config.model_copy(update={"api": api}),
            endpoint_name=endpoint_name,
            frontend=Frontend(
                handler=BATCH_HANDLER,
                timeout_s=config.api.lambda_timeout_s,
                description=f"LLM Twin batch lines for {config.name}",
                environment=environment,
            ),
        )
        lines = tasks.LambdaInvoke(
            self,
            "RunLine",
            lambda_function=self.runner.alias,
            payload_response_only=True,
            # Our own retry rules below cover Lambda's service errors too.
            retry_on_service_exceptions=False,
        )
        add_retry(lines, WAKING_ERRORS, config.batch.wake_retry)
        add_retry(lines, TRANSIENT_ERRORS, config.batch.transient_retry)
        run = sfn.DistributedMap(
            self,
            "RunLines",
            item_reader=sfn.S3JsonLItemReader(
                bucket=storage.bucket, key=sfn.JsonPath.string_at("$.input_key")
            ),
            item_selector={
                "action": "line",
                "batch_id": sfn.JsonPath.string_at("$$.Execution.Input.batch_id"),
                "index": sfn.JsonPath.number_at("$$.Map.Item.Index"),
                "item": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=config.batch_concurrency,
            # A failed line is reported in the error file; it never fails the batch.
            tolerated_failure_percentage=100,
            result_writer_v2=sfn.ResultWriterV2(
                bucket=storage.bucket,
                prefix=RESULTS_PREFIX,
                writer_config=sfn.WriterConfig(
                    output_type=sfn.OutputType.JSONL, transformation=sfn.Transformation.COMPACT
                ),
            ),
            # Keep the execution input (the batch id) for the final step.
            result_path=sfn.JsonPath.DISCARD,
        )
        # Standard child executions: a line may wait for a wake-up longer than Express's 5 min.
        run.item_processor(
            lines,
            mode=sfn.ProcessorMode.DISTRIBUTED,
            execution_type=sfn.ProcessorType.STANDARD,
        )
        finalize = tasks.LambdaInvoke(
            self,
            "Finalize",
            lambda_function=self.runner.alias,
            payload=sfn.TaskInput.from_object(
                {"action": "finalize", "batch_id": sfn.JsonPath.string_at("$.batch_id")}
            ),
            payload_response_only=True,
        )
        # A map that fails as a whole (e.g. an unreadable input) still ends the batch.
        run.add_catch(finalize, errors=["States.ALL"], result_path="$.error")
        self.log_group = owned_log_group(self, "Logs", retention_days=config.api.log_retention_days)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(config),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(run.next(finalize)),
            timeout=EXECUTION_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )


def add_retry(task: sfn.TaskStateBase, errors: list[str], backoff: Backoff) -> None:
    task.add_retry(
        errors=errors,
        interval=cdk.Duration.seconds(backoff.interval_s),
        backoff_rate=backoff.backoff_rate,
        max_attempts=backoff.max_attempts,
        max_delay=cdk.Duration.seconds(backoff.max_delay_s),
        jitter_strategy=sfn.JitterType.FULL,
    )
