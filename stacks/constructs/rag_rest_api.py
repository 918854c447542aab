"""The public HTTPS API: a regional REST API with auth, throttling, validation and logs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from model_config.schema import BUFFERED_INTEGRATION_TIMEOUT_S, Api
from stacks.compliance import acknowledge
from stacks.constructs.api_authorizer import ApiKeyAuthorizer
from stacks.constructs.log_groups import owned_log_group

# Request bodies API Gateway passes to the functions as bytes (base64 in the event).
BINARY_MEDIA_TYPES = ["multipart/form-data"]
# Not "v1": the OpenAI routes already start with /v1, and clients' base URL ends there.
STAGE_NAME = "api"
# Where API Gateway writes a stage's execution logs; it creates the group itself otherwise.
EXECUTION_LOGS = "API-Gateway-Execution-Logs_{rest_api_id}/{stage}"
# The gateway's own message, already a quoted JSON string.
GATEWAY_MESSAGE = "$context.error.messageString"
# CORS, as the app answers it (rag_app.api.middleware): the methods the routes use, any
# request header (OpenAI's browser SDK sends version-dependent x-stainless-* headers), and
# the headers a browser client may read.
CORS_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
CORS_EXPOSED_HEADERS = ["X-Request-Id", "Retry-After"]
CORS_MAX_AGE = cdk.Duration.minutes(10)


@dataclass(frozen=True)
class GatewayError:
    """How one of the gateway's own errors renders: the app's error shape plus OpenAI's fields."""

    status: str | None  # None keeps the status API Gateway chose
    code: str
    # OpenAI's error types, so its SDKs raise the matching exception.
    type: str
    message: str | None = None  # None: the gateway's own message


def gateway_errors(api: Api) -> dict[apigw.ResponseType, GatewayError]:
    """Every error the gateway answers itself, in the same JSON shape as the app's."""
    invalid, auth, denied, missing = (
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
    )
    unknown_route = (
        # Without an authorizer (IAM auth) an unsigned request gets this response too.
        GatewayError("403", "forbidden", denied)
        if api.auth == "iam"
        else GatewayError("404", "not_found", missing, "No such route")
    )
    return {
        apigw.ResponseType.BAD_REQUEST_BODY: GatewayError("422", "invalid_request", invalid),
        apigw.ResponseType.BAD_REQUEST_PARAMETERS: GatewayError("400", "invalid_request", invalid),
        apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: GatewayError(
            "415", "unsupported_media_type", invalid
        ),
        apigw.ResponseType.REQUEST_TOO_LARGE: GatewayError("413", "payload_too_large", invalid),
        apigw.ResponseType.UNAUTHORIZED: GatewayError(
            "401",
            "unauthorized",
            auth,
            "Missing API key: send 'Authorization: Bearer <key>' to /v1 routes and "
            "'x-api-key: <key>' to the others",
        ),
        apigw.ResponseType.INVALID_API_KEY: GatewayError(
            "401", "invalid_api_key", auth, "Invalid API key"
        ),
        apigw.ResponseType.ACCESS_DENIED: GatewayError("403", "forbidden", denied),
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: unknown_route,
        apigw.ResponseType.THROTTLED: GatewayError("429", "throttled", "rate_limit_error"),
        apigw.ResponseType.QUOTA_EXCEEDED: GatewayError(
            "429", "quota_exceeded", "rate_limit_error"
        ),
        apigw.ResponseType.DEFAULT_4_XX: GatewayError(None, "bad_request", invalid),
        apigw.ResponseType.AUTHORIZER_FAILURE: GatewayError(
            "500", "authorizer_error", "server_error"
        ),
        apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR: GatewayError(
            "500", "authorizer_error", "server_error"
        ),
        apigw.ResponseType.INTEGRATION_TIMEOUT: GatewayError(
            "504", "gateway_timeout", "server_error"
        ),
        apigw.ResponseType.DEFAULT_5_XX: GatewayError("502", "upstream_error", "server_error"),
    }


def error_template(error: GatewayError) -> str:
    """The response body template, keys in the app's order and OpenAI's `type` and `param`."""
    message = GATEWAY_MESSAGE if error.message is None else json.dumps(error.message)
    body = json.dumps(
        {
            "error": {
                "code": error.code,
                "message": "@MESSAGE@",
                "type": error.type,
                "param": None,
                "request_id": "$context.requestId",
            }
        }
    )
    return body.replace('"@MESSAGE@"', message)


# Minimal shape checks at the edge; the app validates every field and bound itself.
RAG_BODY_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    required=["query"],
    properties={"query": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1)},
)
CHAT_BODY_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    required=["messages"],
    properties={"messages": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1)},
)


class RagRestApi(Construct):
    """POST /rag and GET /health (buffered), POST /v1/chat/completions and GET /v1/models (streamed)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        buffered: lambda_.IFunction,
        streaming: lambda_.IFunction,
        api: Api,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = owned_log_group(
            self, "AccessLogs", retention_days=api.log_retention_days
        )
        self.authorizer = (
            ApiKeyAuthorizer(self, "KeyAuthorizer", api=api) if api.auth == "api_key" else None
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="LLM Twin RAG API",
            # Regional: an edge-optimized API cuts a stream after 30 s without data.
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Multipart uploads (/v1/files) reach the app as bytes, not as text.
            binary_media_types=BINARY_MEDIA_TYPES,
            default_method_options=self._method_options(api),
            # Preflights are answered here, without auth; the app adds the headers to answers.
            default_cors_preflight_options=self._cors(api),
            # The authorizers hand API Gateway the key found in their route family's header.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER if self.authorizer else None,
            # Access and execution logs need the account-wide API Gateway logging role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                # Every caller together; the usage plan throttles each key within this.
                throttling_rate_limit=api.stage_rate_limit_rps,
                throttling_burst_limit=api.stage_burst_limit,
            ),
        )
        self.execution_logs = owned_log_group(
            self,
            "ExecutionLogs",
            name=EXECUTION_LOGS.format(rest_api_id=self.rest_api.rest_api_id, stage=STAGE_NAME),
            retention_days=api.log_retention_days,
        )
        # The stage starts writing execution logs once deployed: the group must exist first.
        self.rest_api.deployment_stage.node.add_dependency(self.execution_logs)
        self._add_gateway_errors(api)
        self._add_routes(buffered, streaming, api)
        if api.auth == "api_key":
            self._add_usage_plan(api)
        self._acknowledge_findings(api)

    @property
    def url(self) -> str:
        return self.rest_api.url

    @staticmethod
    def _cors(api: Api) -> apigw.CorsOptions | None:
        if not api.cors_origins:
            return None
        return apigw.CorsOptions(
            allow_origins=api.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=["*"],
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=CORS_MAX_AGE,
        )

    def _method_options(self, api: Api) -> apigw.MethodOptions:
        if api.auth == "iam":
            return apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        # Every method needs a key in a usage plan; /rag and /health take it from x-api-key.
        return self._key_options(self._key_authorizer().api_key)

    def _openai_method_options(self, api: Api) -> apigw.MethodOptions | None:
        """/v1/* takes the key as OpenAI clients send it, `Authorization: Bearer <key>`."""
        if api.auth == "iam":
            return None
        return self._key_options(self._key_authorizer().bearer)

    def _key_authorizer(self) -> ApiKeyAuthorizer:
        if self.authorizer is None:
            raise ValueError("API key auth needs the key authorizer")
        return self.authorizer

    @staticmethod
    def _key_options(authorizer: apigw.IAuthorizer) -> apigw.MethodOptions:
        return apigw.MethodOptions(
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.CUSTOM,
            api_key_required=True,
        )

    def _add_routes(
        self, buffered: lambda_.IFunction, streaming: lambda_.IFunction, api: Api
    ) -> None:
        buffered_integration = apigw.LambdaIntegration(
            buffered, proxy=True, timeout=cdk.Duration.seconds(BUFFERED_INTEGRATION_TIMEOUT_S)
        )
        # Response streaming: API Gateway calls InvokeWithResponseStream and relays the
        # bytes as they come, for up to 15 minutes instead of 29 s.
        streaming_integration = apigw.LambdaIntegration(
            streaming,
            proxy=True,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=cdk.Duration.seconds(api.stream_integration_timeout_s),
        )
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        root = self.rest_api.root
        root.add_resource("rag").add_method(
            "POST",
            buffered_integration,
            request_models={"application/json": self._model("RagRequest", RAG_BODY_SCHEMA)},
            request_validator=validator,
        )
        root.add_resource("health").add_method(
            "GET", buffered_integration, request_validator=validator
        )
        # Routes added under /v1 inherit its authorizer.
        openai = root.add_resource("v1", default_method_options=self._openai_method_options(api))
        # For route families composed elsewhere (the Batch API).
        self.openai_resource = openai
        self.streaming_integration = streaming_integration
        openai.add_resource("chat").add_resource("completions").add_method(
            "POST",
            streaming_integration,
            request_models={"application/json": self._model("ChatRequest", CHAT_BODY_SCHEMA)},
            request_validator=validator,
        )
        openai.add_resource("models").add_method(
            "GET", streaming_integration, request_validator=validator
        )

    def _model(self, construct_id: str, schema: apigw.JsonSchema) -> apigw.Model:
        return self.rest_api.add_model(construct_id, content_type="application/json", schema=schema)

    def _add_usage_plan(self, api: Api) -> None:
        plan = self.rest_api.add_usage_plan(
            "UsagePlan",
            description="Per-key throttle and daily quota for the RAG API",
            throttle=apigw.ThrottleSettings(
                rate_limit=api.rate_limit_rps, burst_limit=api.burst_limit
            ),
            quota=apigw.QuotaSettings(limit=api.quota_per_day, period=apigw.Period.DAY),
        )
        plan.add_api_stage(stage=self.rest_api.deployment_stage)
        self.api_key = self.rest_api.add_api_key(
            "ApiKey", description="Default key for the LLM Twin RAG API"
        )
        plan.add_api_key(self.api_key)

    def _add_gateway_errors(self, api: Api) -> None:
        for response_type, error in gateway_errors(api).items():
            headers = None
            if error.status == "401":
                headers = {"WWW-Authenticate": "'Bearer'"}
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=error.status,
                response_headers=headers,
                templates={"application/json": error_template(error)},
            )

    def _acknowledge_findings(self, api: Api) -> None:
        acknowledge(
            self.rest_api,
            "APIG3",
            "No WAF by default: it costs per web ACL and request; the API has per-key "
            "throttling and quotas. Attach a web ACL to the stage where needed.",
        )
        reason = (
            "Callers authenticate with an API key in a usage plan (throttle and quota), found "
            "by Lambda REQUEST authorizers in Authorization: Bearer (/v1, as OpenAI clients "
            "send it) or x-api-key; set api.auth to iam in the model config for IAM SigV4 auth."
            if api.auth == "api_key"
            else "Methods use IAM (SigV4) authorization, chosen in the model config; no "
            "Cognito user pool is involved."
        )
        acknowledge(self.rest_api, "COG4", reason)
        cloud_watch_role = self.rest_api.node.find_child("CloudWatchRole")
        acknowledge(
            cloud_watch_role,
            "IAM4",
            "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy API Gateway "
            "documents for its account-wide logging role.",
            findings=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs"
            ],
        )
