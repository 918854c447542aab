"""Optional judge mode: an OpenAI-compatible chat model scores each answer's faithfulness to
its sources and relevance to the question, 1 to 5, reported as 0..1.

Rubric (sent to the judge verbatim, below): faithfulness 5 = every claim is supported by the
context, 3 = some claims are unsupported, 1 = the answer contradicts or ignores the context;
relevance 5 = answers exactly what was asked, 3 = partly, 1 = off topic. A decline scores
faithfulness 5 (it claims nothing) and relevance by whether the context really lacked the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import openai
from pydantic import BaseModel, Field, ValidationError

from local.corpus import chunk_document, load_documents

JUDGE_URL_ENV = "JUDGE_URL"
JUDGE_KEY_ENV = "JUDGE_API_KEY"
JUDGE_MODEL_ENV = "JUDGE_MODEL"
MAX_CONTEXT_CHARS = 6000

RUBRIC = """You grade one answer of a retrieval-augmented assistant.
Score two things from 1 to 5:
- faithfulness: 5 = every claim in the answer is supported by the CONTEXT; 3 = some claims are
  not supported; 1 = the answer contradicts or ignores the CONTEXT. An answer that declines
  ("the context does not say") claims nothing and scores 5.
- relevance: 5 = the answer addresses exactly what the QUESTION asks; 3 = partly; 1 = off topic.
  A decline scores 5 if the CONTEXT really lacks the answer, 1 if it contains it.
Reply with JSON only: {"faithfulness": <1-5>, "relevance": <1-5>, "reason": "<one sentence>"}"""

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class Verdict(BaseModel):
    """The judge's reply."""

    faithfulness: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    reason: str = ""

    def scores(self) -> dict[str, float]:
        """Both scores mapped from 1..5 onto 0..1."""
        return {
            "faithfulness": (self.faithfulness - 1) / 4,
            "relevance": (self.relevance - 1) / 4,
        }


class JudgeError(RuntimeError):
    """The judge's reply could not be read as a verdict."""


def parse_verdict(text: str) -> Verdict:
    """The verdict in the judge's reply, which may wrap the JSON in prose or a code fence."""
    found = _JSON_OBJECT.search(text)
    if found is None:
        raise JudgeError(f"no JSON object in the judge's reply: {text[:200]!r}")
    try:
        return Verdict.model_validate(json.loads(found.group(0)))
    except (json.JSONDecodeError, ValidationError) as err:
        raise JudgeError(f"unreadable verdict {found.group(0)[:200]!r}: {err}") from None


def chunk_texts(corpus: Path) -> dict[str, str]:
    """point id -> chunk text, recomputed from the corpus the store was ingested from."""
    documents, _ = load_documents(corpus)
    return {c.id: c.content for d in documents for c in chunk_document(d)}


def prompt(question: str, answer: str, contexts: Sequence[str]) -> str:
    context = "\n---\n".join(contexts)[:MAX_CONTEXT_CHARS] or "(no context was retrieved)"
    return f"QUESTION:\n{question}\n\nCONTEXT:\n{context}\n\nANSWER:\n{answer}"


@dataclass
class Judge:
    """One judge endpoint and model."""

    client: openai.AsyncOpenAI
    model: str
    texts: Mapping[str, str]

    async def grade(self, question: str, answer: str, point_ids: Sequence[str]) -> Verdict:
        contexts = [self.texts[p] for p in point_ids if p in self.texts]
        completion = await self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": RUBRIC},
                {"role": "user", "content": prompt(question, answer, contexts)},
            ],
            temperature=0,
            max_tokens=200,
        )
        return parse_verdict(completion.choices[0].message.content or "")
