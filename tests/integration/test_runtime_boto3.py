"""boto3's sagemaker-runtime client against the local endpoint: each engine's contract,
streams, errors, and the server's concurrency."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import STACK_GROUP, Stack, StackPool
from tests.integration.scripted import sse_data

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

PROMPT = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"
MESSAGES = [{"role": "user", "content": "Name three colours."}]


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


def _events(parts: list[bytes]) -> list[Any]:
    """Buffer the parts and split them into events, as a streaming client must."""
    data = b"".join(parts).decode()
    assert data.endswith("\n\n")
    return sse_data(data.split("\n\n"))


@pytest.fixture(scope="module")
def tgi(stacks: StackPool) -> Stack:
    return stacks.get("smollm2-1.7b")


@pytest.fixture(scope="module")
def vllm(stacks: StackPool) -> Stack:
    return stacks.get("twin-llama-3.1-8b")


def test_tgi_answer(tgi: Stack) -> None:
    payload = {"inputs": PROMPT, "parameters": {"max_new_tokens": 6, "details": True}}
    (answer,) = _invoke(tgi.runtime_client(), tgi, tgi.llm, payload)
    assert answer["details"]["generated_tokens"] == len(answer["details"]["tokens"]) <= 6
    assert answer["details"]["finish_reason"] in {"length", "eos_token"}


def test_tgi_defaults_to_the_new_text_only(tgi: Stack) -> None:
    payload = {"inputs": PROMPT, "parameters": {"max_new_tokens": 4}}
    (answer,) = _invoke(tgi.runtime_client(), tgi, tgi.llm, payload)
    assert set(answer) == {"generated_text"}
    assert not answer["generated_text"].startswith("<|im_start|>")


def test_tgi_streamed_tokens_add_up_to_the_generated_text(tgi: Stack) -> None:
    payload = {
        "inputs": PROMPT,
        "parameters": {"max_new_tokens": 8, "details": True},
        "stream": True,
    }
    parts = _stream(tgi.runtime_client(), tgi, payload)
    # SageMaker-style parts: they do not line up with the server-sent events.
    assert any(not part.endswith(b"\n\n") for part in parts)
    assert b"".join(parts).startswith(b"data:{")  # TGI writes no space after `data:`
    events = _events(parts)
    assert all(set(e) >= {"token", "generated_text", "details"} for e in events)
    assert all(e["generated_text"] is None and e["details"] is None for e in events[:-1])
    text = "".join(e["token"]["text"] for e in events if not e["token"]["special"])
    assert events[-1]["generated_text"] == text
    assert events[-1]["details"]["generated_tokens"] == len(events)


def test_tgi_reports_validation_errors_inside_the_stream(tgi: Stack) -> None:
    too_long = "word " * (tgi.config.llm.max_input_tokens + 10)
    payload = {"inputs": too_long, "parameters": {"max_new_tokens": 4}, "stream": True}
    (event,) = _events(_stream(tgi.runtime_client(), tgi, payload))
    assert event["error_type"] == "validation"
    assert event["error"].startswith("Input validation error: `inputs` must have less than")


@pytest.mark.parametrize("kind", ["completion", "chat"])
def test_vllm_answers_completions_and_chats(vllm: Stack, kind: str) -> None:
    model_input = {"prompt": PROMPT} if kind == "completion" else {"messages": MESSAGES}
    answer = _invoke(vllm.runtime_client(), vllm, vllm.llm, {**model_input, "max_tokens": 6})

    assert answer["object"] == ("text_completion" if kind == "completion" else "chat.completion")
    assert answer["model"] == vllm.config.llm.model_id
    (choice,) = answer["choices"]
    assert choice["finish_reason"] in {"stop", "length"}
    usage = answer["usage"]
    assert 1 <= usage["completion_tokens"] <= 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_vllm_streams_openai_chunks_ending_in_done(vllm: Stack) -> None:
    payload = {
        "messages": MESSAGES,
        "max_tokens": 12,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    parts = _stream(vllm.runtime_client(), vllm, payload)

    assert any(not part.endswith(b"\n\n") for part in parts)
    *chunks, usage, done = _events(parts)
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    # ignore_eos: twelve tokens whatever the model would have preferred.
    assert usage["usage"]["completion_tokens"] == 12


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


def _model_error(client: Any, stack: Stack, body: bytes, component: str | None = None) -> Any:
    with pytest.raises(client.exceptions.ModelError) as raised:
        client.invoke_endpoint(
            EndpointName=stack.endpoint, InferenceComponentName=component or stack.llm, Body=body
        )
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["LogStreamArn"].startswith("arn:aws:logs:us-east-1:")
    return response


def test_tgi_input_over_the_limit_is_a_model_error_with_tgis_422(tgi: Stack) -> None:
    limit = tgi.config.llm.max_input_tokens
    body = json.dumps({"inputs": "word " * (limit + 10), "parameters": {"max_new_tokens": 4}})

    response = _model_error(tgi.runtime_client(), tgi, body.encode())

    assert response["OriginalStatusCode"] == 422
    original = json.loads(response["OriginalMessage"])
    assert original["error_type"] == "validation"
    assert original["error"].startswith(
        f"Input validation error: `inputs` must have less than {limit} tokens. Given: "
    )
    assert "Received client error (422)" in response["Error"]["Message"]


def test_vllm_prompt_over_the_context_is_a_model_error_with_vllms_400(vllm: Stack) -> None:
    length = vllm.config.llm.max_total_tokens
    body = json.dumps({"prompt": "word " * length, "max_tokens": 4})

    response = _model_error(vllm.runtime_client(), vllm, body.encode())

    assert response["OriginalStatusCode"] == 400
    error = json.loads(response["OriginalMessage"])["error"]
    assert error["param"] == "input_tokens"
    assert f"maximum context length is {length} tokens" in error["message"]


def test_truncate_lets_a_long_input_through(tgi: Stack) -> None:
    limit = tgi.config.llm.max_input_tokens
    # A short truncate keeps the prefill (and the test) quick on a CPU.
    payload = {
        "inputs": "word " * (limit + 10),
        "parameters": {"max_new_tokens": 2, "truncate": 32, "details": True},
    }
    (answer,) = _invoke(tgi.runtime_client(), tgi, tgi.llm, payload)
    assert answer["details"]["generated_tokens"] <= 2
    (record,) = [r for r in tgi.invocations()[-1:] if r["component"] == tgi.llm]
    assert record["stats"]["input_tokens"] == 32


@pytest.mark.parametrize(
    ("engine", "component", "body", "status"),
    [
        ("tgi", "llm", b"{not json", 400),
        ("tgi", "llm", json.dumps({"parameters": {}}).encode(), 422),
        ("vllm", "llm", b"{not json", 400),
        ("vllm", "llm", json.dumps({"inputs": "TGI's body"}).encode(), 400),
        ("vllm", "embedding", json.dumps({"inputs": ["x"] * 33}).encode(), 413),
        ("vllm", "embedding", json.dumps({"inputs": []}).encode(), 400),
    ],
)
def test_container_rejections_are_model_errors(
    stacks: StackPool, engine: str, component: str, body: bytes, status: int
) -> None:
    stack = stacks.get({"tgi": "smollm2-1.7b", "vllm": "twin-llama-3.1-8b"}[engine])
    name = stack.llm if component == "llm" else stack.embedding

    response = _model_error(stack.runtime_client(), stack, body, name)

    assert response["OriginalStatusCode"] == status


def test_embeddings_do_not_queue_behind_a_generation(vllm: Stack) -> None:
    client = vllm.runtime_client()
    # ignore_eos: 200 tokens whatever the model would say, so the generation is long for sure.
    long_job = {"prompt": PROMPT, "max_tokens": 200, "ignore_eos": True}
    generation = threading.Thread(target=_invoke, args=(client, vllm, vllm.llm, long_job))
    generation.start()
    try:
        deadline = time.monotonic() + 60
        while not any(r["component"] == vllm.llm for r in _running(vllm)):
            assert time.monotonic() < deadline, "the generation never started"
            time.sleep(0.05)
        _invoke(client, vllm, vllm.embedding, {"inputs": "is the LLM busy?"})
    finally:
        generation.join(timeout=300)
    records = vllm.invocations()
    llm = next(r for r in reversed(records) if r["component"] == vllm.llm)
    embed = next(r for r in reversed(records) if r["component"] == vllm.embedding)
    llm_started = llm["finished_at"] - llm["seconds"]
    # The embedding was answered while the generation was still running.
    assert llm_started < embed["finished_at"] < llm["finished_at"], (llm, embed)
    assert llm["stats"]["generated_tokens"] == 200


def _running(stack: Stack) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.ports.endpoint_url}/_local/running", timeout=10)
    response.raise_for_status()
    running: list[dict[str, Any]] = response.json()
    return running


def test_a_caller_that_hangs_up_frees_the_llm(vllm: Stack) -> None:
    url = f"{vllm.ports.endpoint_url}/endpoints/{vllm.endpoint}/invocations"
    # The local server does not check signatures, so a plain HTTP client can play the caller.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            url,
            json={"prompt": PROMPT, "max_tokens": 400, "ignore_eos": True},
            headers={"X-Amzn-SageMaker-Inference-Component": vllm.llm},
            timeout=httpx.Timeout(5.0, read=1.0),
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        last = vllm.invocations()[-1]
        if last["component"] == vllm.llm and last["status"] == 499:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no cancelled invocation logged: {vllm.invocations()[-3:]}")
