"""`--variant name=value[,name=value]`: per-request retrieval options, so one running stack
can be scored under several settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BASELINE = "default"
_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


class VariantError(ValueError):
    """A `--variant` that names an unknown option or a bad value."""


def _switch(value: str) -> bool:
    lowered = value.lower()
    if lowered in _ON | _OFF:
        return lowered in _ON
    raise ValueError("expected on or off")


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected {low}..{high}")
        return number

    return parse


def _fusion(value: str) -> str:
    if value not in ("rrf", "max"):
        raise ValueError("expected rrf or max")
    return value


# The request options of the API contract a variant may set (the API validates them again).
OPTIONS: dict[str, Callable[[str], Any]] = {
    "k": _count(1, 50),
    "query_expansion": _count(1, 5),
    "self_query": _switch,
    "fusion": _fusion,
    "rerank": _switch,
}


@dataclass(frozen=True)
class Variant:
    """A name for the report and the options every request of the variant carries."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_variant(text: str) -> Variant:
    """`rerank=off,k=3` -> Variant('rerank=off,k=3', {'rerank': False, 'k': 3})."""
    options: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise VariantError(f"variant {text!r}: expected name=value, got {part!r}")
        if name not in OPTIONS:
            raise VariantError(
                f"variant {text!r}: unknown option {name!r} (one of {', '.join(OPTIONS)})"
            )
        if name in options:
            raise VariantError(f"variant {text!r}: {name} given twice")
        try:
            options[name] = OPTIONS[name](value)
        except ValueError as err:
            raise VariantError(f"variant {text!r}: {name}={value}: {err}") from None
    return Variant(",".join(f"{k}={v}" for k, v in _display(options).items()), options)


def _display(options: dict[str, Any]) -> dict[str, str]:
    return {
        k: ("on" if v else "off") if isinstance(v, bool) else str(v) for k, v in options.items()
    }


def variants(texts: list[str]) -> list[Variant]:
    """The baseline (the stack's own settings) first, then each distinct `--variant`."""
    chosen = [Variant(BASELINE)]
    for text in texts:
        variant = parse_variant(text)
        if variant.name not in {v.name for v in chosen}:
            chosen.append(variant)
    return chosen
