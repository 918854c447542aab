"""Answer quality with no judge model: key facts found, labelled document cited, declines.

Key facts are matched on normalized text: Unicode NFKC, case folded, every dash and minus
sign read as "-", curly quotes as straight ones, thousands separators dropped (1,204 and
1 204 read as 1204), whitespace collapsed; a fact must stand on word boundaries, so "12"
does not match "127".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
# A separator between digit groups of three: comma, apostrophe, thin or no-break space.
_THOUSANDS = re.compile(r"(?<=\d)[,'\u00a0\u202f\u2009 ](?=\d{3}(?!\d))")
_SPACES = re.compile(r"\s+")

# The decline detector: an empty answer, or one of these phrases anywhere in the normalized
# answer. Tuned to how instruction models say "the context does not tell me".
DECLINE_PATTERNS = [
    r"\bi (?:do not|don't|cannot|can't) (?:know|tell|say|find|answer)",
    r"\b(?:not|no(?:thing)?) (?:enough )?(?:information|details?|data|mention)\b",
    r"\bno (?:relevant |such )?(?:information|record|mention|data)\b",
    r"\b(?:is|are|was|were) not (?:mentioned|stated|specified|provided|given|covered|included"
    r"|available|described|listed)\b",
    r"\b(?:context|sources?|documents?|text|passages?) (?:does|do|did) not "
    r"(?:say|mention|contain|include|provide|specify|state|give)\b",
    r"\b(?:unable|not able) to (?:answer|find|determine|say)\b",
    r"\bcannot (?:be )?(?:answer|determine|determined|find|found|say)\b",
    r"\bi'?m not sure\b",
]
_DECLINE = re.compile("|".join(f"(?:{p})" for p in DECLINE_PATTERNS))


def normalize(text: str) -> str:
    """The text key facts and answers are compared in (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    text = _DASHES.sub("-", text)
    # After NFKC the no-break spaces are plain spaces; drop separators before collapsing.
    text = _THOUSANDS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def contains_fact(answer: str, fact: str) -> bool:
    """Whether the normalized fact stands in the normalized answer on word boundaries."""
    wanted = normalize(fact)
    if not wanted:
        return False
    pattern = rf"(?<![\w]){re.escape(wanted)}(?![\w])"
    return re.search(pattern, normalize(answer)) is not None


def key_fact_recall(answer: str, facts: Sequence[str]) -> float | None:
    """Share of the facts the answer states; None when the question lists none."""
    if not facts:
        return None
    return sum(contains_fact(answer, fact) for fact in facts) / len(facts)


def declines(answer: str) -> bool:
    """Whether the answer says it cannot answer (an empty answer counts)."""
    text = normalize(answer)
    return not text or _DECLINE.search(text) is not None


def cites_labelled(source_document_ids: Sequence[str | None], relevant_ids: Sequence[str]) -> bool:
    """Whether any packed source comes from a labelled document."""
    return any(doc in relevant_ids for doc in source_document_ids if doc)
