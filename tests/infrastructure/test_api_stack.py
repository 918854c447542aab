"""ApiStack template: the Lambda, its IAM, and the REST API's auth, throttling and logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from model_config import load_config
from model_config.runtime_env import rag_environment
from stacks import constants
from stacks.constructs.rag_function import DEADLINE_MARGIN_S
from stacks.constructs.rag_rest_api import INTEGRATION_TIMEOUT_S
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]


def lambda_function(result: Synthesized) -> dict:
    functions = [
        r
        for r in result.template_json(constants.API_STACK)["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == 1
    return functions[0]["Properties"]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_lambda_runtime_size_timeout_and_settings_from_config(synth: Synth, model: str) -> None:
    result = synth(model)
    config = result.config
    environment = {
        **rag_environment(config),
        "RAG_QDRANT_SECRET_ID": config.retrieval.qdrant_secret_name,
        "POWERTOOLS_SERVICE_NAME": "llm-twin-rag",
        "POWERTOOLS_METRICS_NAMESPACE": "LlmTwin",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": [config.api.lambda_architecture],
            "Handler": "rag_app.handler.handler",
            "MemorySize": config.api.lambda_memory_mb,
            "Timeout": int(config.api.request_timeout_s) + DEADLINE_MARGIN_S,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": Match.any_value()},
            "Environment": {"Variables": Match.object_equals(environment)},
        },
    )


def test_timeouts_nest_so_the_caller_gets_the_apps_504(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    app_deadline = result.config.api.request_timeout_s
    lambda_timeout = lambda_function(result)["Timeout"]
    assert app_deadline < lambda_timeout < INTEGRATION_TIMEOUT_S
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "Integration": Match.object_like({"TimeoutInMillis": 29_000})},
    )


def test_no_secret_value_or_qdrant_url_in_the_template(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    variables = lambda_function(result)["Environment"]["Variables"]
    assert not [name for name in variables if "API_KEY" in name or name.endswith("_URL")]


def test_lambda_may_invoke_only_its_endpoint_and_read_only_its_secret(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    endpoint = result.config.names.endpoint
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "InvokeOwnEndpoint",
                            "Effect": "Allow",
                            "Action": "sagemaker:InvokeEndpoint",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    Match.array_with([f":endpoint/{endpoint}"]),
                                ]
                            },
                        },
                        {
                            "Sid": "ReadOwnSecrets",
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    Match.array_with([":secret:llm-twin/qdrant-??????"]),
                                ]
                            },
                        },
                    ]
                )
            }
        },
    )


def test_lambda_role_has_no_managed_policy_and_no_wildcard_beyond_xray(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.API_STACK)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role" and "lambda" in str(
            resource["Properties"]["AssumeRolePolicyDocument"]
        ):
            assert "ManagedPolicyArns" not in resource["Properties"]
        if resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if statement["Resource"] == "*":
                    assert all(a.startswith("xray:") for a in statement["Action"]), statement


def test_rag_and_health_require_an_api_key_by_default(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template(constants.API_STACK)
    for method in ("POST", "GET"):
        template.has_resource_properties(
            "AWS::ApiGateway::Method",
            {
                "HttpMethod": method,
                "ApiKeyRequired": True,
                "AuthorizationType": "NONE",
                "RequestValidatorId": Match.any_value(),
                "Integration": Match.object_like(
                    {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST"}
                ),
            },
        )
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "RequestModels": {"application/json": Match.any_value()}},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_usage_plan_throttles_and_caps_each_key(synth: Synth, model: str) -> None:
    result = synth(model)
    api = result.config.api
    template = result.template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": api.rate_limit_rps, "BurstLimit": api.burst_limit},
            "Quota": {"Limit": api.quota_per_day, "Period": "DAY"},
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    template.has_output(constants.OUTPUT_API_KEY_ID, {"Value": {"Ref": Match.any_value()}})
    template.has_output(constants.OUTPUT_API_URL, {"Value": Match.any_value()})


def test_stage_logs_json_access_logs_traces_and_throttles(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    api = result.config.api
    template = result.template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                "Format": Match.serialized_json(
                    Match.object_like({"requestId": "$context.requestId"})
                ),
            },
            "MethodSettings": [
                Match.object_like(
                    {
                        "DataTraceEnabled": False,
                        "LoggingLevel": "ERROR",
                        "MetricsEnabled": True,
                        "ThrottlingRateLimit": api.rate_limit_rps,
                        "ThrottlingBurstLimit": api.burst_limit,
                    }
                )
            ],
        },
    )
    log_groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(log_groups) == 2
    for log_group in log_groups.values():
        assert log_group["Properties"]["RetentionInDays"] == api.log_retention_days


def test_gateway_errors_use_the_apps_error_shape(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "BAD_REQUEST_BODY",
            "StatusCode": "422",
            "ResponseTemplates": {
                "application/json": Match.string_like_regexp(
                    r'\{"error": \{"code": "invalid_request", "message": '
                    r"\$context\.error\.messageString"
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "INTEGRATION_TIMEOUT", "StatusCode": "504"},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse", {"ResponseType": "THROTTLED", "StatusCode": "429"}
    )


def test_iam_auth_option_replaces_the_api_key(synth: Synth) -> None:
    config = load_config()
    iam = config.model_copy(update={"api": config.api.model_copy(update={"auth": "iam"})})
    template = synth(iam).template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "AWS_IAM"}
    )
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)


def test_snapstart_and_provisioned_concurrency_are_off_by_default_and_opt_in(
    synth: Synth,
) -> None:
    default = synth("twin-llama-3.1-8b")
    assert "SnapStart" not in lambda_function(default)
    default.template(constants.API_STACK).has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "ProvisionedConcurrencyConfig": Match.absent()},
    )
    config = default.config
    tuned = config.model_copy(
        update={
            "api": config.api.model_copy(update={"snapstart": True, "provisioned_concurrency": 2})
        }
    )
    result = synth(tuned)
    assert lambda_function(result)["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}},
    )


def test_api_stack_names_the_endpoint_instead_of_importing_it(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.API_STACK)
    assert "Fn::ImportValue" not in str(template)


def test_opik_secret_turns_on_the_export_and_may_be_read(synth: Synth) -> None:
    config = load_config()
    traced = config.model_copy(
        update={
            "monitoring": config.monitoring.model_copy(update={"opik_secret_name": "llm-twin/opik"})
        }
    )
    result = synth(traced)
    variables = lambda_function(result)["Environment"]["Variables"]
    assert variables["RAG_OPIK_ENABLED"] == "true"
    assert variables["RAG_OPIK_SECRET_ID"] == "llm-twin/opik"
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ReadOwnSecrets",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": [
                                    {
                                        "Fn::Join": [
                                            "",
                                            Match.array_with([":secret:llm-twin/qdrant-??????"]),
                                        ]
                                    },
                                    {
                                        "Fn::Join": [
                                            "",
                                            Match.array_with([":secret:llm-twin/opik-??????"]),
                                        ]
                                    },
                                ],
                            }
                        )
                    ]
                )
            }
        },
    )
    # A different package (with opik) means a different asset.
    default_code = lambda_function(synth("twin-llama-3.1-8b"))["Code"]["S3Key"]
    assert lambda_function(result)["Code"]["S3Key"] != default_code


def test_opik_is_off_without_its_secret(synth: Synth) -> None:
    variables = lambda_function(synth("twin-llama-3.1-8b"))["Environment"]["Variables"]
    assert "RAG_OPIK_ENABLED" not in variables
