"""The RAG app under the AWS Lambda Web Adapter, so answers can stream through API Gateway."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks.constructs.lambda_bundling import START_SCRIPT
from stacks.constructs.rag_function import INVOKE, INVOKE_STREAM, Frontend

# AWS's published adapter layer, one per architecture, the same version number for both
# (aws/aws-lambda-web-adapter README and docs/guide/src/getting-started/zip-packages.md: 27 is
# the v1.0.0 release). Commercial regions only: GovCloud has no copy and China's layers live in
# other accounts.
LAYER_ACCOUNT = "753240598075"
LAYER_VERSION = 27
LAYER_NAMES = {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}
# Regions the layer is published to, both architectures (the project's release matrix,
# .github/workflows/prod.json, after me-south-1 left it before v1.0.0).
LAYER_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "mx-central-1",
    "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)  # fmt: skip
# The adapter listens for Lambda and forwards each request to the app on this port.
APP_PORT = 8080
# Where the adapter polls until the app answers, before it takes the first request.
READINESS_PATH = "/health"


def layer_arn(architecture: str, region: str) -> str:
    """The adapter layer for `architecture` in `region` (a token for a region-agnostic stack)."""
    name = LAYER_NAMES[architecture]
    return f"arn:aws:lambda:{region}:{LAYER_ACCOUNT}:layer:{name}:{LAYER_VERSION}"


def web_adapter_frontend(scope: Construct, config: DeploymentConfig) -> Frontend:
    """Streamed answers: the adapter runs uvicorn and relays its response as it is written."""
    api = config.api
    stack = cdk.Stack.of(scope)
    _require_layer_region(stack)
    layer = lambda_.LayerVersion.from_layer_version_arn(
        scope, "WebAdapterLayer", layer_arn(api.lambda_architecture, stack.region)
    )
    return Frontend(
        # The layer's /opt/bootstrap execs $LAMBDA_TASK_ROOT/$_HANDLER: our start script.
        handler=START_SCRIPT,
        timeout_s=api.stream_lambda_timeout_s,
        description=f"LLM Twin streaming and OpenAI-compatible API for {config.name}",
        # Embeds (and reranks) with InvokeEndpoint, streams the LLM's answer.
        invoke_actions=(INVOKE, INVOKE_STREAM),
        environment={
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
            "AWS_LWA_INVOKE_MODE": "response_stream",
            "AWS_LWA_PORT": str(APP_PORT),
            "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
        },
        layers=(layer,),
    )


def _require_layer_region(stack: cdk.Stack) -> None:
    """Fail before anything is created in a region without the layer."""
    message = "the Lambda Web Adapter layer is not published in this region"
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in LAYER_REGIONS:
            raise ValueError(f"{message}: {stack.region}")
        return
    # A region-agnostic stack checks at deploy time, with a CloudFormation rule.
    cdk.CfnRule(
        stack,
        "WebAdapterLayerRegion",
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_contains(list(LAYER_REGIONS), cdk.Aws.REGION),
                assert_description=f"{message}; deploy to one of: {', '.join(LAYER_REGIONS)}",
            )
        ],
    )
