"""The Batch API's AWS unit: bucket and table protections, the Distributed Map, the line
Lambda, the routes and their auth, and IAM scoped to the unit's own resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match

from model_config import load_config
from stacks import constants
from stacks.constructs.batch_workflow import BATCH_HANDLER, state_machine_name
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import (
    api_function,
    as_list,
    mangum_function,
    resources_of_type,
    streaming_function,
)
from tests.infrastructure.test_streaming_api import (
    BATCH_ROUTES,
    authorizer_by_header,
    resource_path,
)

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
DEFAULT = "twin-llama-3.1-8b"


def rendered(value: Any) -> str:
    """A Fn::Join'd string with every reference written as <LogicalId>."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return "".join(rendered(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected intrinsic {value}")


def definition(result: Synthesized) -> dict[str, Any]:
    template = result.template_json(constants.API_STACK)
    (machine,) = resources_of_type(template, "AWS::StepFunctions::StateMachine").values()
    parsed: dict[str, Any] = json.loads(rendered(machine["Properties"]["DefinitionString"]))
    return parsed


def logical_id(result: Synthesized, resource_type: str, prefix: str) -> str:
    template = result.template_json(constants.API_STACK)
    (found,) = [key for key in resources_of_type(template, resource_type) if key.startswith(prefix)]
    return found


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_bucket_is_encrypted_private_tls_only_logged_and_expiring(synth: Synth, model: str) -> None:
    result = synth(model)
    template = result.template(constants.API_STACK)
    logs_bucket = logical_id(result, "AWS::S3::Bucket", "BatchStorageAccessLogs")
    private = {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": private,
                "LoggingConfiguration": {
                    "DestinationBucketName": {"Ref": logs_bucket},
                    "LogFilePrefix": "batch-bucket/",
                },
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "ExpirationInDays": result.config.batch.retention_days,
                            "Status": "Enabled",
                        }
                    ]
                },
            },
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
    )
    for bucket in (logs_bucket, logical_id(result, "AWS::S3::Bucket", "BatchStorageBucket")):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )
    # Emptied on destroy, so CloudFormation can delete it.
    template.has_resource_properties(
        "Custom::S3AutoDeleteObjects", {"BucketName": {"Ref": logs_bucket}}
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_table_is_on_demand_with_point_in_time_recovery_and_expiry(
    synth: Synth, model: str
) -> None:
    template = synth(model).template(constants.API_STACK)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
                "GlobalSecondaryIndexes": [
                    Match.object_like(
                        {
                            "IndexName": "by_kind",
                            "KeySchema": [
                                {"AttributeName": "kind", "KeyType": "HASH"},
                                {"AttributeName": "sort", "KeyType": "RANGE"},
                            ],
                        }
                    )
                ],
            },
            "DeletionPolicy": "Delete",
        },
    )


def test_keep_on_destroy_retains_bucket_and_table(synth: Synth) -> None:
    base = load_config(DEFAULT)
    config = base.model_copy(
        update={
            "batch": base.batch.model_copy(update={"keep_on_destroy": True, "retention_days": 7})
        }
    )
    template = synth(config).template(constants.API_STACK)

    for resource_type in ("AWS::S3::Bucket", "AWS::DynamoDB::Table"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [{"ExpirationInDays": 7, "Status": "Enabled"}]}},
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_distributed_map_reads_jsonl_at_the_configs_concurrency_and_writes_results(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    bucket = logical_id(result, "AWS::S3::Bucket", "BatchStorageBucket")
    states = definition(result)["States"]
    run = states["RunLines"]
    scaling = result.config.llm.scaling

    assert definition(result)["StartAt"] == "RunLines"
    assert run["Type"] == "Map"
    assert run["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert run["ItemReader"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket": f"<{bucket}>", "Key.$": "$.input_key"},
    }
    assert run["MaxConcurrency"] == result.config.batch_concurrency
    assert run["MaxConcurrency"] == scaling.max_copies * scaling.target_concurrent_requests_per_copy
    assert run["ToleratedFailurePercentage"] == 100
    assert run["ItemSelector"] == {
        "action": "line",
        "batch_id.$": "$$.Execution.Input.batch_id",
        "index.$": "$$.Map.Item.Index",
        "item.$": "$$.Map.Item.Value",
    }
    assert run["ResultWriter"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:putObject",
        "Parameters": {"Bucket": f"<{bucket}>", "Prefix": "map-results/"},
        "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"},
    }
    # The batch ends through the finalize step, even when the map fails as a whole.
    assert run["Next"] == "Finalize"
    assert run["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Finalize"}
    ]
    assert states["Finalize"]["Parameters"] == {"action": "finalize", "batch_id.$": "$.batch_id"}


def test_max_concurrency_can_be_set_in_the_config(synth: Synth) -> None:
    base = load_config(DEFAULT)
    config = base.model_copy(update={"batch": base.batch.model_copy(update={"max_concurrency": 3})})

    assert definition(synth(config))["States"]["RunLines"]["MaxConcurrency"] == 3


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_lines_wait_for_a_wake_up_and_retry_transient_errors_only(synth: Synth, model: str) -> None:
    result = synth(model)
    wake, transient = result.config.batch.wake_retry, result.config.batch.transient_retry
    line = definition(result)["States"]["RunLines"]["ItemProcessor"]["States"]["RunLine"]
    alias = logical_id(result, "AWS::Lambda::Alias", "BatchWorkflowLineFunction")

    assert line["Resource"] == f"<{alias}>"
    assert line["Retry"] == [
        {
            "ErrorEquals": ["ModelWaking"],
            "IntervalSeconds": wake.interval_s,
            "MaxAttempts": wake.max_attempts,
            "BackoffRate": wake.backoff_rate,
            "MaxDelaySeconds": wake.max_delay_s,
            "JitterStrategy": "FULL",
        },
        {
            "ErrorEquals": [
                "LineTransient",
                "Lambda.TooManyRequestsException",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
            ],
            "IntervalSeconds": transient.interval_s,
            "MaxAttempts": transient.max_attempts,
            "BackoffRate": transient.backoff_rate,
            "MaxDelaySeconds": transient.max_delay_s,
            "JitterStrategy": "FULL",
        },
    ]
    # Anything else (a bug, a malformed item) fails that line alone: no catch-all retry.
    assert not any("States.ALL" in rule["ErrorEquals"] for rule in line["Retry"])
    # Retries cover about 25 minutes: a scale-from-zero wake-up takes minutes.
    waits = [
        min(wake.interval_s * wake.backoff_rate**n, wake.max_delay_s)
        for n in range(wake.max_attempts)
    ]
    assert sum(waits) >= 20 * 60


def test_state_machine_is_standard_named_traced_and_logged(synth: Synth) -> None:
    result = synth(DEFAULT)
    template = result.template(constants.API_STACK)
    logs = logical_id(result, "AWS::Logs::LogGroup", "BatchWorkflowLogs")

    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": state_machine_name(result.config),
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": False,
                "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [logs, "Arn"]}}}
                ],
            },
        },
    )
    assert definition(result)["TimeoutSeconds"] == 25 * 3600


def batch_environment(result: Synthesized) -> dict[str, Any]:
    bucket = logical_id(result, "AWS::S3::Bucket", "BatchStorageBucket")
    table = logical_id(result, "AWS::DynamoDB::Table", "BatchStorageTable")
    return {
        "RAG_BATCH_BUCKET": {"Ref": bucket},
        "RAG_BATCH_TABLE": {"Ref": table},
        "RAG_BATCH_RETENTION_DAYS": str(result.config.batch.retention_days),
    }


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_the_line_lambda_is_the_apps_third_entry_and_the_api_serves_the_routes(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    line_function = api_function(result, BATCH_HANDLER)
    streaming = streaming_function(result)
    machine_arn = rendered(streaming["Environment"]["Variables"]["RAG_BATCH_STATE_MACHINE_ARN"])

    for function in (line_function, streaming):
        variables = function["Environment"]["Variables"]
        assert batch_environment(result).items() <= variables.items()
    assert machine_arn == (
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:"
        + state_machine_name(result.config)
    )
    # Same package, same runtime as the other two entries.
    assert line_function["Code"] == streaming["Code"]
    assert line_function["Runtime"] == mangum_function(result)["Runtime"]
    assert "RAG_BATCH_BUCKET" not in mangum_function(result)["Environment"]["Variables"]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_batch_routes_use_the_bearer_authorizer_and_the_streaming_function(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    template = result.template_json(constants.API_STACK)
    streaming_alias = logical_id(result, "AWS::Lambda::Alias", constants.STREAMING_FUNCTION)
    bearer = authorizer_by_header(template)["Authorization"]
    found = set()
    for method in resources_of_type(template, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        route = (properties["HttpMethod"], resource_path(template, properties["ResourceId"]))
        if route not in BATCH_ROUTES:
            continue
        found.add(route)
        assert properties["AuthorizationType"] == "CUSTOM"
        assert properties["AuthorizerId"] == {"Ref": bearer}
        assert properties["ApiKeyRequired"] is True
        assert f"<{streaming_alias}>" in rendered(properties["Integration"]["Uri"])
    assert found == BATCH_ROUTES
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["multipart/form-data"]}
    )


def role_statements(result: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    """The statements of the policies attached to the role whose logical id starts so."""
    template = result.template_json(constants.API_STACK)
    role = logical_id(result, "AWS::IAM::Role", role_prefix)
    found: list[dict[str, Any]] = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements if "Sid" in s}


def test_iam_is_scoped_to_the_units_bucket_table_and_state_machine(synth: Synth) -> None:
    result = synth(DEFAULT)
    bucket = logical_id(result, "AWS::S3::Bucket", "BatchStorageBucket")
    table = logical_id(result, "AWS::DynamoDB::Table", "BatchStorageTable")
    name = state_machine_name(result.config)
    api = by_sid(role_statements(result, f"{constants.STREAMING_FUNCTION}Role"))
    line = by_sid(role_statements(result, "BatchWorkflowLineFunctionRole"))

    files = f"<{bucket}.Arn>/files/*"
    records = [f"<{table}.Arn>", f"<{table}.Arn>/index/by_kind"]
    assert [rendered(r) for r in as_list(api["BatchFiles"]["Resource"])] == [files]
    assert sorted(api["BatchFiles"]["Action"]) == [
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert [rendered(r) for r in api["BatchRecords"]["Resource"]] == records
    assert "dynamodb:Scan" not in api["BatchRecords"]["Action"]
    assert api["StartBatchRuns"] == {
        "Sid": "StartBatchRuns",
        "Action": "states:StartExecution",
        "Effect": "Allow",
        "Resource": api["StartBatchRuns"]["Resource"],
    }
    assert rendered(api["StartBatchRuns"]["Resource"]).endswith(f":stateMachine:{name}")
    assert rendered(api["StopBatchRuns"]["Resource"]).endswith(f":execution:{name}:*")
    # The line Lambda reads and writes the store but never deletes nor starts runs.
    assert sorted(line["BatchFiles"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert "dynamodb:DeleteItem" not in line["BatchRecords"]["Action"]
    assert not [s for s in line.values() if "states:" in json.dumps(s["Action"])]
    # Nothing in the unit is granted a service-wide wildcard action.
    for statement in role_statements(result, "BatchWorkflowStateMachineRole") + list(api.values()):
        assert not [a for a in as_list(statement["Action"]) if a.endswith(":*")], statement
