"""`--variant name=value[,name=value]` maps onto the API's request options."""

from __future__ import annotations

import pytest

from evaluation.variants import Variant, VariantError, parse_variant, variants


def test_values_become_the_request_options_types() -> None:
    variant = parse_variant("rerank=off, query_expansion=3,self_query=on,fusion=max,k=7")
    assert variant.options == {
        "rerank": False,
        "query_expansion": 3,
        "self_query": True,
        "fusion": "max",
        "k": 7,
    }
    assert variant.name == "rerank=off,query_expansion=3,self_query=on,fusion=max,k=7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rerank", "expected name=value"),
        ("colour=blue", "unknown option 'colour'"),
        ("k=0", r"k=0: expected 1\.\.50"),
        ("k=three", "k=three: invalid literal"),
        ("query_expansion=9", r"expected 1\.\.5"),
        ("self_query=maybe", "expected on or off"),
        ("fusion=sum", "expected rrf or max"),
        ("k=3,k=4", "k given twice"),
    ],
)
def test_a_bad_variant_says_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(VariantError, match=expected):
        parse_variant(text)


def test_the_baseline_comes_first_and_repeats_are_dropped() -> None:
    chosen = variants(["k=3", "k=3", "fusion=max"])
    assert chosen == [
        Variant("default"),
        Variant("k=3", {"k": 3}),
        Variant("fusion=max", {"fusion": "max"}),
    ]
