"""Query expansion, self-query and fusion: config switches in the Lambdas, steps on the dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_cdk.assertions import Match

from model_config import DeploymentConfig, load_config
from stacks import constants

from .conftest import Synthesized
from .template_queries import mangum_function, streaming_function

Synth = Callable[..., Synthesized]
SWITCHES = {
    "RAG_QUERY_EXPANSION": "3",
    "RAG_SELF_QUERY": "true",
    "RAG_FUSION": "max",
    "RAG_HELPER_TIMEOUT_S": "2.5",
    "RAG_QUERY_EXPANSION_PROMPT": "Write {n} other ways to ask: {query}",
    "RAG_SELF_QUERY_PROMPT": "Name the author {query} asks about, or NONE.",
}


def advanced_config() -> DeploymentConfig:
    config = load_config()
    retrieval = config.retrieval.model_copy(
        update={
            "query_expansion": 3,
            "self_query": True,
            "fusion": "max",
            "helper_timeout_s": 2.5,
            "query_expansion_prompt": "Write {n} other ways to ask: {query}",
            "self_query_prompt": "Name the author {query} asks about, or NONE.",
        }
    )
    return config.model_copy(update={"retrieval": retrieval})


def test_switches_reach_both_functions(synth: Synth) -> None:
    result = synth(advanced_config())

    result.template(constants.API_STACK).has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like(SWITCHES)}},
    )
    for function in (mangum_function(result), streaming_function(result)):
        variables = function["Environment"]["Variables"]
        assert {name: variables[name] for name in SWITCHES} == SWITCHES


def test_the_default_config_keeps_the_apps_prompts(synth: Synth) -> None:
    variables = mangum_function(synth(load_config()))["Environment"]["Variables"]

    assert variables["RAG_QUERY_EXPANSION"] == str(load_config().retrieval.query_expansion)
    assert "RAG_QUERY_EXPANSION_PROMPT" not in variables
    assert "RAG_SELF_QUERY_PROMPT" not in variables


def test_dashboard_shows_the_new_steps_beside_the_old(synth: Synth) -> None:
    result = synth(load_config())
    template = result.template(constants.API_STACK)
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for metric in ("ExpandLatency", "SelfQueryLatency", "FuseLatency", "EmbedLatency"):
        assert f'\\"{metric}\\"' in body
    template.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {
            "Name": f"llm-twin/{result.config.resource_prefix}/retrieval-fallbacks",
            "QueryString": Match.string_like_regexp(r"ispresent\(prompt_trace\.fallbacks\.0\)"),
        },
    )


def test_only_the_quality_first_config_ships_with_self_query_on(synth: Synth) -> None:
    for model, expected in [
        ("qwen2.5-32b", "true"),
        ("twin-llama-3.1-8b", "false"),
        ("smollm2-1.7b", "false"),
    ]:
        variables = mangum_function(synth(model))["Environment"]["Variables"]
        assert variables["RAG_SELF_QUERY"] == expected, model
        assert variables["RAG_QUERY_EXPANSION"] == "1", model
