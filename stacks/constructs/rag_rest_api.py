"""The public HTTPS API: a regional REST API with auth, throttling, validation and logs."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from model_config.schema import Api
from stacks.compliance import acknowledge
from stacks.constructs.rag_function import LOG_RETENTION

STAGE_NAME = "v1"
# API Gateway's default maximum for REST integrations; the Lambda answers before it.
INTEGRATION_TIMEOUT_S = 29
# The gateway's own errors use the app's error shape, so callers parse one format.
GATEWAY_ERRORS = {
    apigw.ResponseType.BAD_REQUEST_BODY: ("422", "invalid_request"),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: ("415", "unsupported_media_type"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "payload_too_large"),
    apigw.ResponseType.INVALID_API_KEY: ("403", "forbidden"),
    apigw.ResponseType.ACCESS_DENIED: ("403", "forbidden"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("403", "forbidden"),
    apigw.ResponseType.THROTTLED: ("429", "throttled"),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", "quota_exceeded"),
    apigw.ResponseType.INTEGRATION_TIMEOUT: ("504", "gateway_timeout"),
    apigw.ResponseType.DEFAULT_5_XX: ("502", "upstream_error"),
}
# Minimal shape check at the edge; the app validates every field and bound itself.
RAG_BODY_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    required=["query"],
    properties={"query": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1)},
)


class RagRestApi(Construct):
    """POST /rag and GET /health in front of the RAG Lambda alias."""

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, api: Api
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=LOG_RETENTION[api.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="LLM Twin RAG API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Every method needs the API key, or IAM (SigV4) when the config says so.
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM if api.auth == "iam" else None,
                api_key_required=api.auth == "api_key",
            ),
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
                throttling_rate_limit=api.rate_limit_rps,
                throttling_burst_limit=api.burst_limit,
            ),
        )
        self._add_gateway_errors()
        self._add_routes(handler, api)
        if api.auth == "api_key":
            self._add_usage_plan(api)
        self._acknowledge_findings(api)

    @property
    def url(self) -> str:
        return self.rest_api.url

    def _add_routes(self, handler: lambda_.IFunction, api: Api) -> None:
        integration = apigw.LambdaIntegration(
            handler, proxy=True, timeout=cdk.Duration.seconds(INTEGRATION_TIMEOUT_S)
        )
        rag_model = self.rest_api.add_model(
            "RagRequest", content_type="application/json", schema=RAG_BODY_SCHEMA
        )
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.rest_api.root.add_resource("rag").add_method(
            "POST",
            integration,
            request_models={"application/json": rag_model},
            request_validator=validator,
        )
        self.rest_api.root.add_resource("health").add_method(
            "GET", integration, request_validator=validator
        )

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

    def _add_gateway_errors(self) -> None:
        for response_type, (status, code) in GATEWAY_ERRORS.items():
            body = {
                "error": {
                    "code": code,
                    "message": "$context.error.messageString",
                    "request_id": "$context.requestId",
                }
            }
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                # messageString is already a quoted JSON string.
                templates={
                    "application/json": json.dumps(body).replace(
                        '"$context.error.messageString"', "$context.error.messageString"
                    )
                },
            )

    def _acknowledge_findings(self, api: Api) -> None:
        acknowledge(
            self.rest_api,
            "APIG3",
            "No WAF by default: it costs per web ACL and request; the API has per-key "
            "throttling and quotas. Attach a web ACL to the stage where needed.",
        )
        if api.auth == "api_key":
            for rule in ("APIG4", "COG4"):
                acknowledge(
                    self.rest_api,
                    rule,
                    "Callers authenticate with an API key bound to a usage plan (throttle "
                    "and quota); set api.auth to iam in the model config for IAM SigV4 auth.",
                )
        else:
            acknowledge(
                self.rest_api,
                "COG4",
                "Methods use IAM (SigV4) authorization, chosen in the model config; no "
                "Cognito user pool is involved.",
            )
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
