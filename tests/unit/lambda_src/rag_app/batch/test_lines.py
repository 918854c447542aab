"""One line through an httpx client: final answers vs. the two kinds of retry."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rag_app.batch.lines import LineTransient, ModelWaking, classify, run_line
from rag_app.batch.models import InputLine

LINE = InputLine(
    line=1, custom_id="c1", method="POST", url="/v1/chat/completions", body={"model": "m"}
)


def client_answering(status: int, body: object) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(status, json=body, headers={"x-request-id": "req-9"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://app")


@pytest.mark.parametrize("status", [200, 400, 404, 413, 500])
def test_final_answers_are_kept_whatever_the_status(status: int) -> None:
    body = {"id": "x"} if status == 200 else {"error": {"code": "some_code"}}

    result = asyncio.run(run_line(client_answering(status, body), LINE))

    assert result.custom_id == "c1"
    assert result.response is not None
    assert (result.response.status_code, result.response.request_id) == (status, "req-9")
    assert result.response.body == body
    assert result.succeeded is (status == 200)


def test_model_not_ready_means_waking() -> None:
    with pytest.raises(ModelWaking) as raised:
        asyncio.run(run_line(client_answering(503, {"error": {"code": "model_not_ready"}}), LINE))
    assert raised.value.result.response is not None


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "rate_limited"), (503, "model_busy"), (502, "upstream_failed"), (504, "timeout")],
)
def test_throttling_and_transient_failures_retry(status: int, code: str) -> None:
    with pytest.raises(LineTransient):
        asyncio.run(run_line(client_answering(status, {"error": {"code": code}}), LINE))


def test_an_unreachable_api_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://app")
    with pytest.raises(LineTransient) as raised:
        asyncio.run(run_line(client, LINE))
    assert raised.value.result.error is not None
    assert raised.value.result.error.code == "connection_error"


def test_classify_reads_non_json_bodies_as_transient_by_status() -> None:
    assert classify(503, "Service Unavailable") == "transient"
    assert classify(200, "ok") == "answered"
