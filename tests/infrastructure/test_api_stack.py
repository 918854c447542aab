"""ApiStack template: the Mangum Lambda, the functions' IAM, and the REST API's auth and logs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from model_config import load_config
from model_config.schema import BUFFERED_INTEGRATION_TIMEOUT_S, DEADLINE_MARGIN_S
from stacks import constants
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import (
    app_environment,
    mangum_function,
    resources_of_type,
    statements,
    streaming_function,
)

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_lambda_runtime_size_timeout_and_settings_from_config(synth: Synth, model: str) -> None:
    result = synth(model)
    config = result.config
    environment = app_environment(config)
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


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_timeouts_nest_so_the_caller_gets_the_apps_504(synth: Synth, model: str) -> None:
    result = synth(model)
    app_deadline = result.config.api.request_timeout_s
    lambda_timeout = mangum_function(result)["Timeout"]
    assert app_deadline < lambda_timeout < BUFFERED_INTEGRATION_TIMEOUT_S == 29
    template = result.template(constants.API_STACK)
    for method in ("POST", "GET"):
        template.has_resource_properties(
            "AWS::ApiGateway::Method",
            {
                "HttpMethod": method,
                "Integration": Match.object_like(
                    {
                        "TimeoutInMillis": 29_000,
                        "ResponseTransferMode": Match.absent(),
                        "Uri": Match.object_like(
                            {"Fn::Join": ["", Match.array_with(["/invocations"])]}
                        ),
                    }
                ),
            },
        )


def test_no_secret_value_or_qdrant_url_in_the_template(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    for function in (mangum_function(result), streaming_function(result)):
        variables = function["Environment"]["Variables"]
        assert not [name for name in variables if "API_KEY" in name or name.endswith("_URL")]


def invoke_statement(result: Synthesized, function_id: str) -> dict:
    """The invoke statement of the policy attached to one function's role."""
    template = result.template_json(constants.API_STACK)
    (policy,) = [
        resource
        for logical_id, resource in resources_of_type(template, "AWS::IAM::Policy").items()
        if logical_id.startswith(f"{function_id}Role")
    ]
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "InvokeOwnEndpoint"
    ]
    return statement


def arn_suffixes(resources: list[dict]) -> list[str]:
    """The literal tail of each Fn::Join ARN, e.g. ':endpoint/name'."""
    return [resource["Fn::Join"][1][-1] for resource in resources]


@pytest.mark.parametrize(
    ("function_id", "actions"),
    [
        (constants.RAG_FUNCTION, "sagemaker:InvokeEndpoint"),
        (
            constants.STREAMING_FUNCTION,
            ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
        ),
    ],
)
def test_functions_may_invoke_only_their_endpoint_and_its_components(
    synth: Synth, function_id: str, actions: object
) -> None:
    result = synth("qwen2.5-32b")
    names = result.config.names
    statement = invoke_statement(result, function_id)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == actions
    assert arn_suffixes(statement["Resource"]) == [
        f":endpoint/{names.endpoint}",
        f":inference-component/{names.llm_component}",
        f":inference-component/{names.embedding_component}",
        f":inference-component/{names.reranker_component}",
    ]


# The batch state machine's log delivery: these CloudWatch Logs APIs take no resource ARN.
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_functions_read_only_their_secret(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template(constants.API_STACK)
    found = template.find_resources(
        "AWS::IAM::Policy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
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
                            }
                        ]
                    )
                }
            }
        },
    )
    # The three functions that run the app (two API entries, batch lines); the authorizer
    # reads no secret.
    assert len(found) == 3


def test_lambda_roles_have_no_managed_policy_and_no_wildcard_beyond_xray(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.API_STACK)
    lambda_roles = [
        role
        for logical_id, role in resources_of_type(template, "AWS::IAM::Role").items()
        if "lambda" in str(role["Properties"]["AssumeRolePolicyDocument"])
        # CDK's own provider that empties the batch buckets on destroy (aws-s3 autoDeleteObjects).
        and not logical_id.startswith("CustomS3AutoDeleteObjects")
    ]
    assert len(lambda_roles) == 4
    for role in lambda_roles:
        assert "ManagedPolicyArns" not in role["Properties"]
    for statement in statements(template):
        if statement["Resource"] == "*":
            assert all(
                a.startswith("xray:") or a in LOG_DELIVERY_ACTIONS for a in statement["Action"]
            ), statement


def test_rag_and_health_are_buffered_and_validated(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "RequestModels": {"application/json": Match.any_value()}},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "ContentType": "application/json",
            "Schema": Match.object_like(
                {
                    "type": "object",
                    "required": ["query"],
                    "properties": {"query": {"type": "string", "minLength": 1}},
                }
            ),
        },
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
    (stage_id,) = template.find_resources("AWS::ApiGateway::Stage")
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": api.rate_limit_rps, "BurstLimit": api.burst_limit},
            "Quota": {"Limit": api.quota_per_day, "Period": "DAY"},
            # Still attached to the stage: the authorizer's keys are checked against it.
            "ApiStages": [Match.object_like({"Stage": {"Ref": stage_id}})],
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
            "StageName": "api",
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
                        # All callers together; each key gets the usage plan's share.
                        "ThrottlingRateLimit": api.stage_rate_limit_rps,
                        "ThrottlingBurstLimit": api.stage_burst_limit,
                    }
                )
            ],
        },
    )


def gateway_error_bodies(result: Synthesized) -> dict[str, tuple[str | None, dict]]:
    """Response type -> (status, the JSON body with the gateway's message as a placeholder)."""
    template = result.template_json(constants.API_STACK)
    found = {}
    for response in resources_of_type(template, "AWS::ApiGateway::GatewayResponse").values():
        properties = response["Properties"]
        body = properties["ResponseTemplates"]["application/json"]
        # The gateway's message is substituted as an already-quoted JSON string.
        parsed = json.loads(body.replace("$context.error.messageString", '"<gateway message>"'))
        found[properties["ResponseType"]] = (properties.get("StatusCode"), parsed)
    return found


def test_gateway_errors_use_the_apps_error_shape_and_openais_fields(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    template = result.template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "BAD_REQUEST_BODY",
            "StatusCode": "422",
            "ResponseTemplates": {
                "application/json": '{"error": {"code": "invalid_request", "message": '
                "$context.error.messageString, "
                '"type": "invalid_request_error", "param": null, '
                '"request_id": "$context.requestId"}}'
            },
        },
    )
    expected = {
        "BAD_REQUEST_BODY": ("422", "invalid_request", "invalid_request_error"),
        "BAD_REQUEST_PARAMETERS": ("400", "invalid_request", "invalid_request_error"),
        "UNAUTHORIZED": ("401", "unauthorized", "authentication_error"),
        "INVALID_API_KEY": ("401", "invalid_api_key", "authentication_error"),
        "ACCESS_DENIED": ("403", "forbidden", "permission_error"),
        "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found", "not_found_error"),
        "THROTTLED": ("429", "throttled", "rate_limit_error"),
        "QUOTA_EXCEEDED": ("429", "quota_exceeded", "rate_limit_error"),
        "REQUEST_TOO_LARGE": ("413", "payload_too_large", "invalid_request_error"),
        "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type", "invalid_request_error"),
        # 4xx the table does not name keep API Gateway's status, in the same shape.
        "DEFAULT_4XX": (None, "bad_request", "invalid_request_error"),
        "AUTHORIZER_FAILURE": ("500", "authorizer_error", "server_error"),
        "AUTHORIZER_CONFIGURATION_ERROR": ("500", "authorizer_error", "server_error"),
        "INTEGRATION_TIMEOUT": ("504", "gateway_timeout", "server_error"),
        "DEFAULT_5XX": ("502", "upstream_error", "server_error"),
    }
    bodies = gateway_error_bodies(result)
    assert set(bodies) == set(expected)
    for response_type, (status, code, error_type) in expected.items():
        found_status, body = bodies[response_type]
        assert found_status == status, response_type
        assert list(body) == ["error"]
        assert body["error"] == {
            "code": code,
            "message": body["error"]["message"],
            "type": error_type,
            "param": None,
            "request_id": "$context.requestId",
        }
        assert isinstance(body["error"]["message"], str)


def test_missing_key_answers_401_with_a_bearer_challenge(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template(constants.API_STACK)
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "UNAUTHORIZED",
            "StatusCode": "401",
            "ResponseParameters": {"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
            "ResponseTemplates": {
                "application/json": Match.serialized_json(
                    {
                        "error": Match.object_like(
                            {
                                "code": "unauthorized",
                                "message": Match.string_like_regexp("Authorization: Bearer"),
                            }
                        )
                    }
                )
            },
        },
    )


def test_iam_auth_option_replaces_the_api_key_and_the_authorizer(synth: Synth) -> None:
    config = load_config()
    iam = config.model_copy(update={"api": config.api.model_copy(update={"auth": "iam"})})
    result = synth(iam)
    template = result.template(constants.API_STACK)
    for method in ("POST", "GET"):
        template.has_resource_properties(
            "AWS::ApiGateway::Method",
            {
                "HttpMethod": method,
                "AuthorizationType": "AWS_IAM",
                "AuthorizerId": Match.absent(),
                "ApiKeyRequired": Match.absent(),
            },
        )
    template.resource_count_is("AWS::ApiGateway::Authorizer", 0)
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"ApiKeySourceType": Match.absent()}
    )
    # An unsigned request is refused by IAM, not sent to a missing route.
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "MISSING_AUTHENTICATION_TOKEN", "StatusCode": "403"},
    )
    assert constants.OUTPUT_API_KEY_ID not in result.template_json(constants.API_STACK)["Outputs"]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_snapstart_is_on_for_both_app_functions_behind_their_alias(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    template = result.template(constants.API_STACK)
    for function in (mangum_function(result), streaming_function(result)):
        assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    # SnapStart applies to published versions: API Gateway must call the alias, never $LATEST.
    aliases = template.find_resources(
        "AWS::Lambda::Alias",
        {
            "Properties": {
                "Name": "live",
                "FunctionVersion": {"Fn::GetAtt": [Match.any_value(), "Version"]},
                "ProvisionedConcurrencyConfig": Match.absent(),
            }
        },
    )
    # The two API entries and the batch line function.
    assert len(aliases) == 3
    alias_refs = [{"Ref": logical_id} for logical_id in aliases]
    integrations = [
        method["Properties"]["Integration"]
        for method in resources_of_type(
            result.template_json(constants.API_STACK), "AWS::ApiGateway::Method"
        ).values()
        if method["Properties"]["Integration"].get("Type") == "AWS_PROXY"
    ]
    assert integrations
    for integration in integrations:
        uri_parts = integration["Uri"]["Fn::Join"][1]
        assert any(part in alias_refs for part in uri_parts), uri_parts


def test_provisioned_concurrency_replaces_snapstart_when_chosen(synth: Synth) -> None:
    config = load_config()
    warm = config.model_copy(
        update={
            "api": config.api.model_copy(update={"snapstart": False, "provisioned_concurrency": 2})
        }
    )
    result = synth(warm)
    for function in (mangum_function(result), streaming_function(result)):
        assert "SnapStart" not in function
    aliases = result.template(constants.API_STACK).find_resources(
        "AWS::Lambda::Alias",
        {
            "Properties": {
                "Name": "live",
                "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2},
            }
        },
    )
    assert len(aliases) == 2


def test_snapstart_with_provisioned_concurrency_fails_synth_naming_both(synth: Synth) -> None:
    config = load_config()
    both = config.model_copy(
        update={"api": config.api.model_copy(update={"provisioned_concurrency": 2})}
    )
    with pytest.raises(ValueError, match=r"api\.snapstart and api\.provisioned_concurrency \(2\)"):
        synth(both)


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
    variables = mangum_function(result)["Environment"]["Variables"]
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
    default_code = mangum_function(synth("twin-llama-3.1-8b"))["Code"]["S3Key"]
    assert mangum_function(result)["Code"]["S3Key"] != default_code


def test_opik_is_off_without_its_secret(synth: Synth) -> None:
    variables = mangum_function(synth("twin-llama-3.1-8b"))["Environment"]["Variables"]
    assert "RAG_OPIK_ENABLED" not in variables


def test_cors_is_off_by_default(synth: Synth) -> None:
    template = synth(load_config()).template(constants.API_STACK)

    template.resource_properties_count_is("AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS"}, 0)
    assert "RAG_CORS_ORIGINS" not in json.dumps(template.to_json())


def test_cors_origins_from_the_config_get_unauthenticated_preflights(synth: Synth) -> None:
    config = load_config()
    origins = ["https://chat.example.com", "http://localhost:5173"]
    browsers = config.model_copy(
        update={"api": config.api.model_copy(update={"cors_origins": origins})}
    )
    result = synth(browsers)
    template = result.template(constants.API_STACK)

    # API Gateway answers the preflight itself: no key, no authorizer, no Lambda.
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "AuthorizationType": "NONE",
            "ApiKeyRequired": False,
            "Integration": Match.object_like(
                {
                    "Type": "MOCK",
                    "IntegrationResponses": [
                        Match.object_like(
                            {
                                "ResponseParameters": Match.object_like(
                                    {
                                        "method.response.header.Access-Control-Allow-Origin": (
                                            "'https://chat.example.com'"
                                        ),
                                        "method.response.header.Access-Control-Allow-Methods": (
                                            "'GET,POST,DELETE,OPTIONS'"
                                        ),
                                        "method.response.header.Access-Control-Allow-Headers": (
                                            "'*'"
                                        ),
                                    }
                                ),
                                # The second origin is echoed by the response template.
                                "ResponseTemplates": {
                                    "application/json": Match.string_like_regexp(
                                        "http://localhost:5173"
                                    )
                                },
                            }
                        )
                    ],
                }
            ),
        },
    )
    # Every other method keeps its auth.
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "AuthorizationType": "CUSTOM", "ApiKeyRequired": True},
    )
    # The app adds the headers to its own answers.
    assert json.loads(app_environment(browsers)["RAG_CORS_ORIGINS"]) == origins
    (nag,) = [p for p in result.nag_report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []
