"""Judge mode against a scripted OpenAI-compatible endpoint (the SDK over a mock transport)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest

from evaluation.judge import RUBRIC, Judge, JudgeError, Verdict, chunk_texts, parse_verdict
from local.corpus import chunk_document, load_documents
from local.settings import SAMPLE_CORPUS


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "judge",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


def grade(reply: str, point_ids: list[str]) -> tuple[Verdict, dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def endpoint(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=completion(reply))

    async def go() -> Verdict:
        client = openai.AsyncOpenAI(
            base_url="http://judge.test/v1",
            api_key="k",
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint)),
        )
        judge = Judge(client, "judge", {"p1": "Sluicegate's burst is 480.", "p2": "Weir: 430."})
        try:
            return await judge.grade("What is the burst?", "It is 480.", point_ids)
        finally:
            await client.close()

    verdict = asyncio.run(go())
    return verdict, seen[0]


def test_the_judge_gets_the_rubric_the_question_the_answer_and_the_sources_text() -> None:
    verdict, request = grade('{"faithfulness": 5, "relevance": 4, "reason": "ok"}', ["p1", "p9"])
    assert verdict.scores() == {"faithfulness": 1.0, "relevance": 0.75}
    system, user = request["messages"]
    assert system == {"role": "system", "content": RUBRIC}
    assert "What is the burst?" in user["content"]
    assert "It is 480." in user["content"]
    assert "Sluicegate's burst is 480." in user["content"]
    assert "Weir" not in user["content"]  # only the answer's own sources
    assert request["temperature"] == 0


def test_a_verdict_wrapped_in_prose_or_a_fence_is_read() -> None:
    text = 'Here you go:\n```json\n{"faithfulness": 1, "relevance": 3}\n```'
    assert parse_verdict(text).scores() == {"faithfulness": 0.0, "relevance": 0.5}


@pytest.mark.parametrize(
    "reply",
    ["I think it is fine.", '{"faithfulness": 7, "relevance": 3}', '{"relevance": 3}', "{oops}"],
)
def test_an_unreadable_verdict_is_an_error(reply: str) -> None:
    with pytest.raises(JudgeError):
        grade(reply, ["p1"])


def test_chunk_texts_are_the_ingested_chunks_by_point_id() -> None:
    texts = chunk_texts(SAMPLE_CORPUS)
    documents, _ = load_documents(SAMPLE_CORPUS)
    chunks = [c for d in documents for c in chunk_document(d)]
    assert texts == {c.id: c.content for c in chunks}
    assert isinstance(next(iter(texts.values())), str)


def test_an_empty_context_is_said_so() -> None:
    _, request = grade('{"faithfulness": 5, "relevance": 5}', [])
    assert "(no context was retrieved)" in request["messages"][1]["content"]
