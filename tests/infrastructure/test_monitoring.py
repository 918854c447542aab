"""Dashboard, alarms, saved queries and budget, for a config with and one without scale to zero."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from stacks import constants
from tests.infrastructure.conftest import Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
SCALES_TO_ZERO = "smollm2-1.7b"
ALWAYS_ON = "twin-llama-3.1-8b"
BOTH = [SCALES_TO_ZERO, ALWAYS_ON]


def components(result: Synthesized) -> list[str]:
    return result.config.names.component_names


@pytest.mark.parametrize("model", BOTH)
def test_dashboard_shows_api_lambda_endpoint_and_rag_steps(synth: Synth, model: str) -> None:
    result = synth(model)
    template = result.template(constants.API_STACK)
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"llm-twin-{result.config.resource_prefix}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    expected = [
        # API Gateway
        "AWS/ApiGateway", "Count", "4XXError", "5XXError", "Latency", "IntegrationLatency",
        # Lambda
        "AWS/Lambda", "Duration", "Errors", "Throttles", "ConcurrentExecutions",
        "initDurationMs",
        # endpoint and its components
        "AWS/SageMaker", "Invocations", "ModelLatency", "Invocation4XXErrors",
        "Invocation5XXErrors", "NoCapacityInvocationFailures", "GPUUtilizationNormalized",
        "GPUMemoryUtilizationNormalized", "MemoryUtilizationNormalized",
        "/aws/sagemaker/InferenceComponents", "/aws/sagemaker/Endpoints",
        result.config.names.endpoint,
        # RAG steps and tokens from the prompt traces
        "LlmTwin", "EmbedLatency", "SearchLatency", "GenerateLatency", "TotalLatency",
        "TimeToFirstToken", "PromptTokens", "GeneratedTokens", result.config.llm.model_id,
    ]  # fmt: skip
    missing = [name for name in [*expected, *components(result)] if name not in body]
    assert not missing


@pytest.mark.parametrize("model", BOTH)
def test_every_component_has_error_and_no_capacity_alarms(synth: Synth, model: str) -> None:
    result = synth(model)
    template = result.template(constants.API_STACK)
    no_capacity_periods = 3 if result.config.endpoint.scale_to_zero else 1
    for name in components(result):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocation5XXErrors",
                "Dimensions": [{"Name": "InferenceComponentName", "Value": name}],
                "Statistic": "Sum",
                "Period": 300,
                "Threshold": 5,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": [{"Ref": Match.string_like_regexp("AlarmsTopic")}],
            },
        )
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SageMaker",
                "MetricName": "NoCapacityInvocationFailures",
                "Dimensions": [{"Name": "InferenceComponentName", "Value": name}],
                "Statistic": "Sum",
                "Threshold": 1,
                "EvaluationPeriods": no_capacity_periods,
                "AlarmActions": [{"Ref": Match.string_like_regexp("AlarmsTopic")}],
            },
        )


def test_api_and_lambda_alarms(synth: Synth) -> None:
    result = synth(ALWAYS_ON)
    monitoring = result.config.monitoring
    template = result.template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": monitoring.api_5xx_rate_percent,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": Match.array_with(
                [
                    Match.object_like(
                        {"Expression": "IF(requests > 0, 100 * errors / requests, 0)"}
                    ),
                    Match.object_like(
                        {
                            "Id": "errors",
                            "MetricStat": Match.object_like(
                                {"Metric": Match.object_like({"MetricName": "5XXError"})}
                            ),
                        }
                    ),
                ]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "Latency",
            "ExtendedStatistic": "p95",
            "Threshold": monitoring.api_p95_latency_ms,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
        },
    )


def lambda_alarms(result: Synthesized) -> dict[str, set[str]]:
    """Lambda metric name -> the functions (logical ids) it alarms on."""
    template = result.template_json(constants.API_STACK)
    found: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        properties = resource["Properties"]
        if (
            resource["Type"] != "AWS::CloudWatch::Alarm"
            or properties.get("Namespace") != "AWS/Lambda"
        ):
            continue
        assert properties["Threshold"] == 1
        (action,) = properties["AlarmActions"]
        assert action["Ref"].startswith("AlarmsTopic")
        (dimension,) = properties["Dimensions"]
        found.setdefault(properties["MetricName"], set()).add(dimension["Value"]["Ref"])
    return found


def test_every_function_alarms_on_throttles_and_the_app_functions_on_errors(synth: Synth) -> None:
    result = synth(ALWAYS_ON)
    template = result.template_json(constants.API_STACK)
    functions = {
        resource["Properties"]["Handler"]: logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        # CDK's provider that empties the batch buckets on destroy runs only then.
        and not logical_id.startswith("CustomS3AutoDeleteObjects")
    }
    app = {functions["rag_app.handler.handler"], functions["start_server.sh"]}
    alarms = lambda_alarms(result)
    assert alarms["Throttles"] == set(functions.values())
    # The authorizer fails by design on every request without a key: not an alarm.
    assert alarms["Errors"] == app


def test_alarm_topic_is_tls_only_and_mails_when_configured(synth: Synth) -> None:
    config = synth(ALWAYS_ON).config
    silent = synth(config).template(constants.API_STACK)
    silent.resource_count_is("AWS::SNS::Subscription", 0)
    silent.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    mailing = config.model_copy(
        update={
            "monitoring": config.monitoring.model_copy(update={"alarm_email": "ops@example.com"})
        }
    )
    synth(mailing).template(constants.API_STACK).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_saved_queries_cover_slow_empty_tokens_and_errors(synth: Synth) -> None:
    result = synth(ALWAYS_ON)
    template = result.template(constants.API_STACK)
    prefix = f"llm-twin/{result.config.resource_prefix}"
    expected = {
        "slowest-requests": "sort prompt_trace.latency_ms.total desc",
        "empty-retrievals": "not ispresent(prompt_trace.retrieved.0.point_id)",
        "token-usage": "sum(prompt_trace.generated_tokens)",
        "errors-by-code": "by prompt_trace.error_code",
    }
    for name, fragment in expected.items():
        template.has_resource_properties(
            "AWS::Logs::QueryDefinition",
            {
                "Name": f"{prefix}/{name}",
                "QueryString": Match.string_like_regexp(
                    fragment.replace("(", r"\(").replace(")", r"\)")
                ),
                # Every function that runs the app writes prompt traces (batch lines too).
                "LogGroupNames": [
                    {"Ref": Match.string_like_regexp("^RagFunctionLogs")},
                    {"Ref": Match.string_like_regexp("^StreamingRagFunctionLogs")},
                    {"Ref": Match.string_like_regexp("^BatchWorkflowLineFunctionLogs")},
                ],
            },
        )


def test_budget_only_when_configured(synth: Synth) -> None:
    budgeted = synth(SCALES_TO_ZERO)
    template = budgeted.template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": {
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {
                    "Amount": budgeted.config.monitoring.monthly_budget_usd,
                    "Unit": "USD",
                },
                "CostFilters": {"TagKeyValue": [f"user:model-config${budgeted.config.name}"]},
            },
            "NotificationsWithSubscribers": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Notification": Match.object_like(
                                {"NotificationType": "FORECASTED", "Threshold": 100}
                            ),
                            "Subscribers": [
                                {"SubscriptionType": "SNS", "Address": Match.any_value()}
                            ],
                        }
                    )
                ]
            ),
        },
    )
    synth(ALWAYS_ON).template(constants.API_STACK).resource_count_is("AWS::Budgets::Budget", 0)
