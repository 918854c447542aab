"""The RAG app under the AWS Lambda Web Adapter, so answers can stream through API Gateway."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks.constructs.lambda_bundling import START_SCRIPT
from stacks.constructs.rag_function import INVOKE, INVOKE_STREAM, Frontend

# AWS's published adapter layer, one per architecture, the same version number for both
# (repository aws/aws-lambda-web-adapter): 27 is v1.0.0, 28 v1.0.1, 29 a reverted release,
# 30 v1.1.0, the first to take part in SnapStart (hooks below, readiness re-checked after
# restore). Commercial regions only: GovCloud has no copy and China's layers live in other
# accounts.
LAYER_ACCOUNT = "753240598075"
LAYER_VERSION = 30
LAYER_NAMES = {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}
# Regions the layer is published to, both architectures (the project's release matrix,
# .github/workflows/prod.json): me-south-1 left before v1.0.0, me-central-1 with v1.0.1.
LAYER_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "mx-central-1",
    "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)  # fmt: skip
# The adapter listens for Lambda and forwards each request to the app on this port.
APP_PORT = 8080
# Where the adapter polls until the app answers, before it takes the first request.
READINESS_PATH = "/health"
# SnapStart: the adapter POSTs to these on the app before the snapshot and after a restore
# (and answers 403 to outside callers of them); rag_app.lifecycle serves them at the
# paths these variables name.
BEFORE_CHECKPOINT_PATH = "/_lifecycle/before-checkpoint"
AFTER_RESTORE_PATH = "/_lifecycle/after-restore"


def layer_arn(architecture: str, region: str) -> str:
    """The adapter layer for `architecture` in `region` (a token for a region-agnostic stack)."""
    name = LAYER_NAMES[architecture]
    return f"arn:aws:lambda:{region}:{LAYER_ACCOUNT}:layer:{name}:{LAYER_VERSION}"


def web_adapter_frontend(scope: Construct, config: DeploymentConfig) -> Frontend:
    """Streamed answers: the adapter runs uvicorn and relays its response as it is written."""
    api = config.api
    stack = cdk.Stack.of(scope)
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
            **(_snapstart_hooks() if api.snapstart else {}),
        },
        layers=(layer,),
    )


def _snapstart_hooks() -> dict[str, str]:
    """Prime the app before the snapshot and renew its clients after each restore.

    The readiness check stays unbounded (AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS unset): at
    the snapshot's init the app may take seconds to import, and after a restore it is up at
    once, within Lambda's 10 s restore limit either way.
    """
    return {
        "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH": BEFORE_CHECKPOINT_PATH,
        "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH": AFTER_RESTORE_PATH,
    }
