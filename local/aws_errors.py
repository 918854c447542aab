"""Error answers shaped like the SageMaker runtime's, so botocore raises the same exceptions.

The runtime speaks rest-json: botocore reads the error code from the `X-Amzn-ErrorType`
header (the part before `:`) and the message from the body's `message`/`Message`, and copies
modeled members such as ModelError's `OriginalStatusCode` into the exception's response.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

ACCOUNT = "000000000000"
_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.validate/"
_SAGEMAKER = "http://internal.amazon.com/coral/com.amazon.sagemaker.runtime/"
# What SageMaker answers (ValidationError) while an inference component has no copy, e.g.
# scaled to zero and waking up.
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may "
    "be in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
# Status codes from botocore's sagemaker-runtime service model.
_STATUS = {
    "ValidationError": 400,
    "ModelError": 424,
    "ModelNotReadyException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


def error_response(code: str, body: dict[str, Any], request_id: str) -> Response:
    """A JSON error with the headers AWS sends; `code` picks the botocore exception class."""
    namespace = _CORAL if code == "ValidationError" else _SAGEMAKER
    return Response(
        json.dumps(body),
        status_code=_STATUS[code],
        media_type="application/json",
        headers={"x-amzn-ErrorType": f"{code}:{namespace}", "x-amzn-RequestId": request_id},
    )


def validation_error(message: str, request_id: str) -> Response:
    """The caller sent something the runtime itself rejects (names, headers, size)."""
    return error_response("ValidationError", {"message": message}, request_id)


def internal_failure(message: str, request_id: str) -> Response:
    return error_response("InternalFailure", {"message": message}, request_id)


def log_stream_arn(region: str, component: str) -> str:
    return (
        f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/InferenceComponents/{component}"
    )


def model_error(
    status: int, original: bytes, component: str, region: str, request_id: str
) -> Response:
    """The container answered with a non-2xx status: SageMaker wraps it as ModelError (424)."""
    text = original.decode("utf-8", errors="replace")
    side = "client" if 400 <= status < 500 else "server"
    body = {
        "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL",
        "LogStreamArn": log_stream_arn(region, component),
        "Message": (
            f'Received {side} error ({status}) from model with message "{text}". '
            "See the local endpoint's console output for more information."
        ),
        "OriginalMessage": text,
        "OriginalStatusCode": status,
    }
    return error_response("ModelError", body, request_id)


def model_timeout(component: str, region: str, request_id: str, seconds: float) -> Response:
    """The container did not answer in time (SageMaker allows 60 s)."""
    body = {
        "ErrorCode": "MODEL_TIMEOUT",
        "LogStreamArn": log_stream_arn(region, component),
        "Message": (
            f"Your invocation timed out while waiting for a response from model {component} "
            f"after {seconds:.0f} s. Review the latency of the model and try again."
        ),
    }
    return error_response("ModelError", body, request_id)
