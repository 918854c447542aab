"""boto3's sagemaker-runtime client against the local endpoint: shapes, streams and errors."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

PROMPT = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"


def _invoke(client: Any, stack: Stack, component: str, payload: Any) -> Any:
    response = client.invoke_endpoint(
        EndpointName=stack.endpoint,
        InferenceComponentName=component,
        ContentType="application/json",
        Body=json.dumps(payload),
    )
    assert response["ContentType"] == "application/json"
    return json.loads(response["Body"].read())


def _stream(client: Any, stack: Stack, payload: Any) -> list[bytes]:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=stack.endpoint,
        InferenceComponentName=stack.llm,
        ContentType="application/json",
        Body=json.dumps(payload),
    )
    assert response["ContentType"] == "text/event-stream"
    return [event["PayloadPart"]["Bytes"] for event in response["Body"]]


def _sse(parts: list[bytes]) -> list[dict[str, Any]]:
    """Buffer the parts and split them into events, as a streaming client must."""
    events = b"".join(parts).split(b"\n\n")
    assert events[-1] == b""
    return [json.loads(event.removeprefix(b"data:")) for event in events[:-1]]


def test_tgi_answer(runtime_client: Any, stack: Stack) -> None:
    payload = {"inputs": PROMPT, "parameters": {"max_new_tokens": 6, "details": True}}
    (answer,) = _invoke(runtime_client, stack, stack.llm, payload)
    assert answer["generated_text"].strip()
    assert answer["details"]["generated_tokens"] == len(answer["details"]["tokens"]) <= 6
    assert answer["details"]["finish_reason"] in {"length", "eos_token"}


def test_tgi_defaults_to_the_new_text_only(runtime_client: Any, stack: Stack) -> None:
    (answer,) = _invoke(
        runtime_client, stack, stack.llm, {"inputs": PROMPT, "parameters": {"max_new_tokens": 4}}
    )
    assert set(answer) == {"generated_text"}
    assert not answer["generated_text"].startswith("<|im_start|>")


def test_streamed_tokens_add_up_to_the_generated_text(runtime_client: Any, stack: Stack) -> None:
    payload = {
        "inputs": PROMPT,
        "parameters": {"max_new_tokens": 8, "details": True},
        "stream": True,
    }
    parts = _stream(runtime_client, stack, payload)
    # SageMaker-style parts: they do not line up with the server-sent events.
    assert any(not part.endswith(b"\n\n") for part in parts)
    events = _sse(parts)
    assert all(set(e) >= {"token", "generated_text", "details"} for e in events)
    assert all(e["generated_text"] is None and e["details"] is None for e in events[:-1])
    text = "".join(e["token"]["text"] for e in events if not e["token"]["special"])
    assert events[-1]["generated_text"] == text
    assert events[-1]["details"]["generated_tokens"] == len(events)


def test_stream_reports_validation_errors_inside_the_stream(
    runtime_client: Any, stack: Stack
) -> None:
    # TGI opens the event stream before validating, then sends the error as an event.
    too_long = "word " * (stack.config.llm.max_input_tokens + 10)
    payload = {"inputs": too_long, "parameters": {"max_new_tokens": 4}, "stream": True}
    (event,) = _sse(_stream(runtime_client, stack, payload))
    assert event["error_type"] == "validation"
    assert event["error"].startswith("Input validation error: `inputs` must have less than")


def test_tei_embeddings_are_normalized_384_floats(runtime_client: Any, stack: Stack) -> None:
    (vector,) = _invoke(
        runtime_client, stack, stack.embedding, {"inputs": "lantern moths", "normalize": True}
    )
    assert len(vector) == 384
    assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-4)
    batch = _invoke(runtime_client, stack, stack.embedding, {"inputs": ["a", "b", "c"]})
    assert [len(v) for v in batch] == [384, 384, 384]
    (raw,) = _invoke(runtime_client, stack, stack.embedding, {"inputs": "a", "normalize": False})
    assert not math.isclose(sum(x * x for x in raw), 1.0, rel_tol=1e-3)


@pytest.mark.parametrize(
    ("endpoint", "component", "message"),
    [
        ("no-such-endpoint", "x", "Endpoint no-such-endpoint of account"),
        (None, None, "Inference Component Name header is required"),
        (None, "no-such-component", "Inference Component no-such-component not found"),
    ],
)
def test_runtime_validation_errors(
    runtime_client: Any, stack: Stack, endpoint: str | None, component: str | None, message: str
) -> None:
    kwargs: dict[str, Any] = {"EndpointName": endpoint or stack.endpoint, "Body": b"{}"}
    if component is not None:
        kwargs["InferenceComponentName"] = component
    for call in (
        runtime_client.invoke_endpoint,
        runtime_client.invoke_endpoint_with_response_stream,
    ):
        with pytest.raises(runtime_client.exceptions.ValidationError) as raised:
            call(**kwargs)
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert message in raised.value.response["Error"]["Message"]


def test_input_over_the_limit_is_a_model_error_with_tgis_422(
    runtime_client: Any, stack: Stack
) -> None:
    limit = stack.config.llm.max_input_tokens
    payload = {"inputs": "word " * (limit + 10), "parameters": {"max_new_tokens": 4}}
    for call in (
        runtime_client.invoke_endpoint,
        runtime_client.invoke_endpoint_with_response_stream,
    ):
        with pytest.raises(runtime_client.exceptions.ModelError) as raised:
            call(
                EndpointName=stack.endpoint,
                InferenceComponentName=stack.llm,
                Body=json.dumps(payload),
            )
        response = raised.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
        assert response["OriginalStatusCode"] == 422
        original = json.loads(response["OriginalMessage"])
        assert original["error_type"] == "validation"
        assert original["error"].startswith(
            f"Input validation error: `inputs` must have less than {limit} tokens. Given: "
        )
        assert "Received client error (422)" in response["Error"]["Message"]
        assert response["LogStreamArn"].startswith("arn:aws:logs:us-east-1:")


def test_truncate_lets_a_long_input_through(runtime_client: Any, stack: Stack) -> None:
    limit = stack.config.llm.max_input_tokens
    # A short truncate keeps the prefill (and the test) quick on a CPU.
    payload = {
        "inputs": "word " * (limit + 10),
        "parameters": {"max_new_tokens": 2, "truncate": 32, "details": True},
    }
    (answer,) = _invoke(runtime_client, stack, stack.llm, payload)
    assert answer["details"]["generated_tokens"] <= 2
    (record,) = [r for r in stack.invocations()[-1:] if r["component"] == stack.llm]
    assert record["stats"]["input_tokens"] == 32


@pytest.mark.parametrize(
    ("component", "body", "status"),
    [
        ("llm", b"{not json", 400),
        ("llm", json.dumps({"parameters": {}}).encode(), 422),
        ("embedding", json.dumps({"inputs": ["x"] * 33}).encode(), 413),
        ("embedding", json.dumps({"inputs": []}).encode(), 400),
    ],
)
def test_container_rejections_are_model_errors(
    runtime_client: Any, stack: Stack, component: str, body: bytes, status: int
) -> None:
    name = stack.llm if component == "llm" else stack.embedding
    with pytest.raises(runtime_client.exceptions.ModelError) as raised:
        runtime_client.invoke_endpoint(
            EndpointName=stack.endpoint, InferenceComponentName=name, Body=body
        )
    assert raised.value.response["OriginalStatusCode"] == status


def test_embeddings_do_not_queue_behind_a_generation(runtime_client: Any, stack: Stack) -> None:
    counting = "<|im_start|>user\nCount from 1 to 300, separated by commas.<|im_end|>\n<|im_start|>assistant\n"
    long_job = {"inputs": counting, "parameters": {"max_new_tokens": 200}}
    generation = threading.Thread(target=_invoke, args=(runtime_client, stack, stack.llm, long_job))
    generation.start()
    try:
        time.sleep(1.0)  # well into the generation, which takes several seconds
        _invoke(runtime_client, stack, stack.embedding, {"inputs": "is the LLM busy?"})
    finally:
        generation.join(timeout=120)
    records = stack.invocations()
    llm = next(r for r in reversed(records) if r["component"] == stack.llm)
    embed = next(r for r in reversed(records) if r["component"] == stack.embedding)
    llm_started = llm["finished_at"] - llm["seconds"]
    # The embedding was answered while the generation was still running.
    assert llm_started < embed["finished_at"] < llm["finished_at"], (llm, embed)


def test_a_caller_that_hangs_up_frees_the_llm(stack: Stack) -> None:
    counting = "<|im_start|>user\nCount from 1 to 500.<|im_end|>\n<|im_start|>assistant\n"
    url = f"{stack.ports.endpoint_url}/endpoints/{stack.endpoint}/invocations"
    # The local server does not check signatures, so a plain HTTP client can play the caller.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            url,
            json={"inputs": counting, "parameters": {"max_new_tokens": 400}},
            headers={"X-Amzn-SageMaker-Inference-Component": stack.llm},
            timeout=httpx.Timeout(5.0, read=1.0),
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        last = stack.invocations()[-1]
        if last["component"] == stack.llm and last["status"] == 499:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no cancelled invocation logged: {stack.invocations()[-3:]}")
