"""The streamed, OpenAI-compatible side of the API: Web Adapter function, STREAM routes, bearer auth."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from model_config import load_config
from model_config.schema import DEADLINE_MARGIN_S, STREAM_INTEGRATION_TIMEOUT_MAX_S
from stacks import constants
from stacks.constructs.region_guard import DEPLOYABLE_REGIONS
from tests.infrastructure.conftest import SHIPPED_MODELS, Synthesized
from tests.infrastructure.template_queries import (
    AUTHORIZER_HANDLER,
    api_function,
    app_environment,
    resources_of_type,
    streaming_function,
)

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
LAYER_NAMES = {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}
STREAMING_URI_TAIL = "/response-streaming-invocations"
# The Batch API's routes, streamed too (tests/infrastructure/test_batch_api.py).
BATCH_ROUTES = {
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{file_id}"),
    ("DELETE", "/v1/files/{file_id}"),
    ("GET", "/v1/files/{file_id}/content"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches"),
    ("GET", "/v1/batches/{batch_id}"),
    ("POST", "/v1/batches/{batch_id}/cancel"),
}


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_streaming_function_runs_the_app_under_the_web_adapter(synth: Synth, model: str) -> None:
    result = synth(model)
    api = result.config.api
    function = streaming_function(result)
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == [api.lambda_architecture]
    assert function["Handler"] == "start_server.sh"
    assert function["MemorySize"] == api.lambda_memory_mb
    assert function["Timeout"] == api.stream_timeout_s + DEADLINE_MARGIN_S
    assert function["TracingConfig"] == {"Mode": "Active"}
    variables = dict(function["Environment"]["Variables"])
    # The Batch API's store and state machine (tests/infrastructure/test_batch_api.py).
    batch = {name for name in list(variables) if name.startswith("RAG_BATCH_")}
    assert batch == {
        "RAG_BATCH_BUCKET",
        "RAG_BATCH_TABLE",
        "RAG_BATCH_STATE_MACHINE_ARN",
        "RAG_BATCH_RETENTION_DAYS",
    }
    for name in batch:
        del variables[name]
    assert variables == {
        **app_environment(result.config),
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
        "AWS_LWA_INVOKE_MODE": "response_stream",
        "AWS_LWA_PORT": "8080",
        "AWS_LWA_READINESS_CHECK_PATH": "/health",
        # SnapStart is on by default: the adapter primes the app before the snapshot and
        # lets it renew its clients after a restore.
        "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH": "/_lifecycle/before-checkpoint",
        "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH": "/_lifecycle/after-restore",
    }
    # No Function URL: API Gateway calls InvokeWithResponseStream itself.
    assert not resources_of_type(result.template_json(constants.API_STACK), "AWS::Lambda::Url")


def test_region_agnostic_stack_picks_the_layer_of_the_deploy_region(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    (layer,) = streaming_function(result)["Layers"]
    assert layer == {
        "Fn::Join": [
            "",
            [
                "arn:aws:lambda:",
                {"Ref": "AWS::Region"},
                ":753240598075:layer:LambdaAdapterLayerArm64:30",
            ],
        ]
    }
    # A region without the layer (or inference components) fails before anything is created.
    rule = result.template_json(constants.API_STACK)["Rules"]["DeployableRegion"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Contains": [list(DEPLOYABLE_REGIONS), {"Ref": "AWS::Region"}]
    }


def test_region_specific_stack_names_the_layer_for_its_architecture(synth: Synth) -> None:
    config = load_config()
    x86 = config.model_copy(
        update={"api": config.api.model_copy(update={"lambda_architecture": "x86_64"})}
    )
    result = synth(x86, region="eu-west-1")
    assert streaming_function(result)["Layers"] == [
        "arn:aws:lambda:eu-west-1:753240598075:layer:LambdaAdapterLayerX86:30"
    ]
    # The region is known at synth: checked then, no deploy-time rule.
    assert "DeployableRegion" not in result.template_json(constants.API_STACK).get("Rules", {})


def test_snapstart_off_leaves_the_adapters_hooks_unset(synth: Synth) -> None:
    config = load_config()
    cold = config.model_copy(update={"api": config.api.model_copy(update={"snapstart": False})})
    variables = streaming_function(synth(cold))["Environment"]["Variables"]
    assert not [name for name in variables if name.startswith("AWS_LWA_SNAPSTART_")]


def streamed_methods(result: Synthesized) -> dict[str, dict]:
    template = result.template_json(constants.API_STACK)
    return {
        logical_id: method["Properties"]
        for logical_id, method in resources_of_type(template, "AWS::ApiGateway::Method").items()
        if method["Properties"]["Integration"].get("ResponseTransferMode") == "STREAM"
    }


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_openai_routes_stream_from_the_web_adapter_function(synth: Synth, model: str) -> None:
    result = synth(model)
    api = result.config.api
    template = result.template(constants.API_STACK)
    (alias_id,) = [
        logical_id
        for logical_id in template.find_resources("AWS::Lambda::Alias")
        if logical_id.startswith(constants.STREAMING_FUNCTION)
    ]
    stream_integration = {
        "Type": "AWS_PROXY",
        "IntegrationHttpMethod": "POST",
        "ResponseTransferMode": "STREAM",
        "TimeoutInMillis": (api.stream_timeout_s + DEADLINE_MARGIN_S + 1) * 1000,
        "Uri": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":apigateway:",
                    {"Ref": "AWS::Region"},
                    ":lambda:path/2021-11-15/functions/",
                    {"Ref": alias_id},
                    STREAMING_URI_TAIL,
                ],
            ]
        },
    }
    template_json = result.template_json(constants.API_STACK)
    methods = streamed_methods(result)
    chat_and_models = {
        (m["HttpMethod"], resource_path(template_json, m["ResourceId"])) for m in methods.values()
    } - BATCH_ROUTES
    assert chat_and_models == {("POST", "/v1/chat/completions"), ("GET", "/v1/models")}
    for method in methods.values():
        assert method["Integration"] == stream_integration
        assert method["Integration"]["TimeoutInMillis"] <= STREAM_INTEGRATION_TIMEOUT_MAX_S * 1000
    resource_paths = resources_of_type(
        result.template_json(constants.API_STACK), "AWS::ApiGateway::Resource"
    )
    path_parts = {r["Properties"]["PathPart"] for r in resource_paths.values()}
    assert {"v1", "chat", "completions", "models", "rag", "health"} <= path_parts


def test_chat_completions_body_must_be_an_object_with_messages(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    template = result.template_json(constants.API_STACK)
    (post,) = [
        m
        for m in streamed_methods(result).values()
        if m["HttpMethod"] == "POST"
        and resource_path(template, m["ResourceId"]) == "/v1/chat/completions"
    ]
    model = template["Resources"][post["RequestModels"]["application/json"]["Ref"]]
    assert model["Properties"]["ContentType"] == "application/json"
    assert model["Properties"]["Schema"] == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["messages"],
        "properties": {"messages": {"type": "array", "minItems": 1}},
    }
    (validator_id,) = resources_of_type(template, "AWS::ApiGateway::RequestValidator")
    assert post["RequestValidatorId"] == {"Ref": validator_id}


def resource_path(template: dict, resource_ref: dict) -> str:
    """The path of an AWS::ApiGateway::Resource (the root is the RestApi's root resource)."""
    if "Ref" not in resource_ref:
        return ""
    properties = template["Resources"][resource_ref["Ref"]]["Properties"]
    return f"{resource_path(template, properties['ParentId'])}/{properties['PathPart']}"


def authorizer_by_header(template: dict) -> dict[str, str]:
    """Identity source header -> the authorizer's logical id."""
    return {
        resource["Properties"]["IdentitySource"].removeprefix("method.request.header."): logical_id
        for logical_id, resource in resources_of_type(
            template, "AWS::ApiGateway::Authorizer"
        ).items()
    }


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_each_route_family_takes_the_key_through_its_own_authorizer(
    synth: Synth, model: str
) -> None:
    result = synth(model)
    template_json = result.template_json(constants.API_STACK)
    authorizers = authorizer_by_header(template_json)
    assert set(authorizers) == {"Authorization", "x-api-key"}
    families: dict[str, set[str]] = {"Authorization": set(), "x-api-key": set()}
    for method in resources_of_type(template_json, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        if properties["HttpMethod"] == "OPTIONS":
            continue  # CORS preflights, when configured, carry no credentials
        path = resource_path(template_json, properties["ResourceId"])
        header = "Authorization" if path.startswith("/v1/") else "x-api-key"
        assert properties["AuthorizationType"] == "CUSTOM"
        assert properties["AuthorizerId"] == {"Ref": authorizers[header]}, path
        assert properties["ApiKeyRequired"] is True
        families[header].add(path)
    assert {"/v1/chat/completions", "/v1/models"} <= families["Authorization"]
    assert {"/rag", "/health"} <= families["x-api-key"]
    # The key comes from the authorizers, not only from x-api-key.
    result.template(constants.API_STACK).has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"ApiKeySourceType": "AUTHORIZER", "EndpointConfiguration": {"Types": ["REGIONAL"]}},
    )


@pytest.mark.parametrize("ttl", [0, 300, 3600])
def test_authorizer_cache_ttl_comes_from_the_config(synth: Synth, ttl: int) -> None:
    config = load_config()
    tuned = config.model_copy(
        update={"api": config.api.model_copy(update={"authorizer_cache_ttl_s": ttl})}
    )
    template = synth(tuned).template(constants.API_STACK)
    for header in ("Authorization", "x-api-key"):
        template.has_resource_properties(
            "AWS::ApiGateway::Authorizer",
            {
                "IdentitySource": f"method.request.header.{header}",
                "AuthorizerResultTtlInSeconds": ttl,
            },
        )


def test_authorizers_are_cached_request_authorizers_on_one_function(synth: Synth) -> None:
    result = synth("twin-llama-3.1-8b")
    template = result.template(constants.API_STACK)
    function = api_function(result, AUTHORIZER_HANDLER)
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == [result.config.api.lambda_architecture]
    assert function["MemorySize"] == 128
    assert "Layers" not in function
    template.resource_count_is("AWS::ApiGateway::Authorizer", 2)
    for header in ("Authorization", "x-api-key"):
        template.has_resource_properties(
            "AWS::ApiGateway::Authorizer",
            {
                "Type": "REQUEST",
                # One header per family: a repeat call with it skips the authorizer for 300 s.
                "IdentitySource": f"method.request.header.{header}",
                "AuthorizerResultTtlInSeconds": 300,
                "AuthorizerUri": {
                    "Fn::Join": [
                        "",
                        Match.array_with(
                            [
                                {
                                    "Fn::GetAtt": [
                                        Match.string_like_regexp("KeyAuthorizerFunction"),
                                        "Arn",
                                    ]
                                },
                                "/invocations",
                            ]
                        ),
                    ]
                },
            },
        )
    # API Gateway may invoke it, and only for this API's authorizers.
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {
                "Fn::GetAtt": [Match.string_like_regexp("KeyAuthorizerFunction"), "Arn"]
            },
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {
                "Fn::Join": ["", Match.array_with([Match.string_like_regexp("/authorizers/")])]
            },
        },
    )


def test_authorizer_role_may_only_write_its_own_logs(synth: Synth) -> None:
    template = synth("twin-llama-3.1-8b").template_json(constants.API_STACK)
    (policy,) = [
        resource
        for logical_id, resource in resources_of_type(template, "AWS::IAM::Policy").items()
        if "KeyAuthorizer" in logical_id
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    (log_group_id,) = [
        logical_id
        for logical_id in resources_of_type(template, "AWS::Logs::LogGroup")
        if logical_id.startswith("RagApiKeyAuthorizerLogs")
    ]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": [log_group_id, "Arn"]}


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_outputs_give_the_rag_url_and_the_openai_base_url(synth: Synth, model: str) -> None:
    template = synth(model).template_json(constants.API_STACK)
    (stage_id,) = resources_of_type(template, "AWS::ApiGateway::Stage")
    outputs = template["Outputs"]
    # <API url (ends with the stage and a slash)> + "rag" / + "v1"
    for output, tail in (
        (constants.OUTPUT_API_URL, "/rag"),
        (constants.OUTPUT_OPENAI_BASE_URL, "/v1"),
    ):
        parts = outputs[output]["Value"]["Fn::Join"][1]
        assert parts[0] == "https://"
        assert parts[-2:] == [{"Ref": stage_id}, tail]
