"""Before loading an API: is it there, which model does it serve, does it stream chat yet."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class ProbeError(RuntimeError):
    """The API cannot be load-tested; the message says why."""


@dataclass(frozen=True)
class ApiInfo:
    """What the probe found."""

    model_id: str
    chat_available: bool
    chat_note: str


def base_url(url: str) -> str:
    """The API root: the `RagApiUrl` stack output ends in /rag; a local URL has no path."""
    url = url.rstrip("/")
    return url[: -len("/rag")] if url.endswith("/rag") else url


def headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "Authorization": f"Bearer {api_key}"} if api_key else {}


def probe(url: str, api_key: str, timeout_s: float = 60) -> ApiInfo:
    """GET /health, then one tiny streamed chat request."""
    with httpx.Client(base_url=url, headers=headers(api_key), timeout=timeout_s) as client:
        try:
            health = client.get("/health")
        except httpx.HTTPError as err:
            raise ProbeError(f"cannot reach {url}/health: {err}") from None
        if health.status_code == 403:
            raise ProbeError(
                f"{url} refused the API key (403): pass KEY=<value of the ApiKeyId key>"
            )
        if health.status_code != 200:
            raise ProbeError(f"{url}/health answered {health.status_code}, not 200")
        model_id = str(health.json().get("model_id", ""))
        body = {
            "model": model_id,
            "messages": [{"role": "user", "content": "Say hi."}],
            "stream": True,
            "max_tokens": 1,
        }
        try:
            with client.stream("POST", "/v1/chat/completions", json=body) as response:
                status = response.status_code
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError as err:
            return ApiInfo(model_id, False, f"chat route probe failed ({err}): /rag only")
    if status == 404:
        return ApiInfo(
            model_id,
            False,
            "POST /v1/chat/completions answered 404 (not deployed on this API yet): "
            "the load test runs buffered /rag requests only",
        )
    if status != 200:
        return ApiInfo(
            model_id, False, f"POST /v1/chat/completions answered {status}: /rag requests only"
        )
    return ApiInfo(model_id, True, "streamed chat available: mixed with /rag")


def warm_up(url: str, api_key: str, question: str, max_new_tokens: int | None, count: int) -> None:
    """Sequential requests that open the app's clients and stores before anything is timed."""
    body: dict[str, object] = {"query": question}
    if max_new_tokens:
        body["max_new_tokens"] = max_new_tokens
    with httpx.Client(base_url=url, headers=headers(api_key), timeout=300) as client:
        for _ in range(count):
            try:
                client.post("/rag", json=body)
            except httpx.HTTPError as err:
                raise ProbeError(f"warm-up request to {url}/rag failed: {err}") from None
