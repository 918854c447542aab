"""Self-query: the author a question names, read by the LLM and matched to the store's authors."""

from __future__ import annotations

import difflib
import re

# What the model is told; a config may replace it ({query} is filled in).
DEFAULT_PROMPT = (
    "Which person does the question below name as the author of the content it asks about? "
    "Answer with the person's full name only, or NONE if it names nobody.\n\n"
    "Question: {query}\nName:"
)
# A name is a few words; the helper needs no more room than that.
AUTHOR_TOKENS = 16
# How alike two spellings must be (difflib's ratio) to be the same name.
NAME_CUTOFF = 0.8
_NOBODY = {"none", "no", "n/a", "na", "null", "nobody", "no one", "unknown", "not mentioned"}
_LABEL = re.compile(r"^\s*(?:name|author|answer|full name)\s*[:\-]\s*", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb .,;!?*"


def self_query_prompt(template: str, question: str) -> str:
    """The helper's prompt asking for the author the question names."""
    return template.format(query=question)


def parse_name(text: str) -> str | None:
    """The name on the model's first non-empty line, or None if it names nobody."""
    for line in text.splitlines():
        name = _LABEL.sub("", line.strip(), count=1).strip(_QUOTES)
        if name:
            return None if name.casefold() in _NOBODY or _says_none(name) else name
    return None


def match_author(answer: str, known: list[str]) -> str | None:
    """The known author the answer means: named in it, or spelled close to it (typos)."""
    folded = answer.casefold()
    # A rambling answer may still contain the exact name.
    named = [name for name in known if name.casefold() in folded]
    if named:
        return max(named, key=len)
    by_folded = {name.casefold(): name for name in known}
    close = difflib.get_close_matches(folded, by_folded, n=1, cutoff=NAME_CUTOFF)
    if close:
        return by_folded[close[0]]
    # One word alone ("Iusztin", "Maxime") names the one author whose name has it.
    words = [word for word in _words(answer) if len(word) > 2]
    if len(words) == 1:
        hits = [
            name
            for name in known
            if difflib.get_close_matches(words[0], _words(name), n=1, cutoff=NAME_CUTOFF)
        ]
        if len(hits) == 1:
            return hits[0]
    # A name with the right surname and a wrong first name ("Alberto Reyes-Lind") still
    # names the one author with that surname; a shared first name never does.
    by_surname = [name for name in known if _has_surname_of(name, words)]
    if len(by_surname) == 1:
        return by_surname[0]
    return None


def _has_surname_of(name: str, words: list[str]) -> bool:
    """Whether `words` hold every word of the surname (the last part) of `name`."""
    parts = name.split()
    surname = _words(parts[-1]) if len(parts) > 1 else []
    return bool(surname) and all(
        difflib.get_close_matches(word, words, n=1, cutoff=NAME_CUTOFF) for word in surname
    )


def named_in(name: str, question: str) -> bool:
    """Whether the question itself mentions the name (or a misspelling of it).

    The helper may invent an author for a question that names nobody; a filter on an
    invented author would hide the right context.
    """
    asked = _words(question)
    return any(
        difflib.get_close_matches(word, asked, n=1, cutoff=NAME_CUTOFF)
        for word in _words(name)
        if len(word) > 2
    )


def _says_none(name: str) -> bool:
    return name.casefold().split(" ", 1)[0] in {"none", "nobody", "no"}


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())
