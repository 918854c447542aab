"""Query expansion: the question rewritten by the LLM, read leniently from what it writes."""

from __future__ import annotations

import re

# What the model is told; a config may replace it ({query} and {n} are filled in).
DEFAULT_PROMPT = (
    "Rewrite the question below in {n} different ways that keep its meaning, so a search "
    "engine finds more relevant documents. Write one rewrite per line and nothing else.\n\n"
    "Question: {query}\nRewrites:\n"
)
# Room per rewrite in the helper's answer; a rewrite is one short sentence.
TOKENS_PER_REWRITE = 40
# A rewrite longer than this is rambling, not a question.
MAX_REWRITE_CHARS = 300
# "1.", "2)", "-", "*", "•", "Q1:", "Rewrite 2:", "Question:" at the start of a line.
_LIST_MARKER = re.compile(
    r"^\s*(?:\d+\s*[.):-]|[-*•]|(?:q|rewrite|question|query|phrasing)\s*\d*\s*[:.)-])\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb "


def expansion_prompt(template: str, question: str, rewrites: int) -> str:
    """The helper's prompt asking for `rewrites` new phrasings."""
    return template.format(query=question, n=rewrites)


def parse_rewrites(text: str, question: str, wanted: int) -> list[str]:
    """Up to `wanted` distinct rewrites from the model's text, the question itself excluded.

    Takes numbered or bulleted lists, quoted lines, several questions on one line; drops
    preambles ("Here are three rewrites:"), repeats of the question and overlong lines.
    """
    seen = {_key(question)}
    rewrites: list[str] = []
    for candidate in _candidates(text):
        key = _key(candidate)
        if not key or key in seen or len(candidate) > MAX_REWRITE_CHARS:
            continue
        seen.add(key)
        rewrites.append(candidate)
        if len(rewrites) == wanted:
            break
    return rewrites


def _candidates(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        line = _clean(line)
        # A preamble such as "Here are 3 rewrites:" introduces the list; it is not one.
        if not line or line.endswith(":"):
            continue
        # Several questions run together on one line.
        found.extend(_clean(part) for part in re.split(r"(?<=\?)\s+(?=\S)", line))
    return [candidate for candidate in found if candidate]


def _clean(line: str) -> str:
    line = line.strip().strip(_QUOTES)
    line = _LIST_MARKER.sub("", line, count=1)
    return line.strip().strip(_QUOTES).strip()


def _key(text: str) -> str:
    """Case, spacing and punctuation do not make a different phrasing."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())
