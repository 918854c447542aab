"""A config with a helper component, in local mode: helper calls reach the helper, in its own
prompt format, and the answer the LLM. Checked on the endpoint's record, not on the words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from model_config.loader import CONFIG_DIR, DEFAULT_MODEL
from tests.integration.conftest import STACK_GROUP, Stack, StackPool
from tests.integration.test_advanced_rag_e2e import ON, QUESTION, SHORT, check_report
from tests.integration.test_scale_from_zero import set_copies

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

# The default config (vLLM, template format) with a chat-format helper: the two formats tell
# the helper's calls from the LLM's on the endpoint.
HELPER = {
    "model_id": "Qwen/Qwen2.5-0.5B-Instruct",
    "engine": "vllm",
    "prompt_format": "chat",
    "max_input_tokens": 1024,
    "max_total_tokens": 1152,
    "cpu_cores": 1,
    "memory_mb": 1024,
    "scaling": {"min_copies": 1, "max_copies": 1},
}


@pytest.fixture(scope="session")
def helper_stack(stacks: StackPool, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    raw = yaml.safe_load((CONFIG_DIR / f"{DEFAULT_MODEL}.yaml").read_text())
    raw["llm"]["scaling"]["max_copies"] = 3
    raw["helper"] = HELPER
    path = tmp_path_factory.mktemp("own-config") / "twin-with-helper.yaml"
    path.write_text(yaml.safe_dump(raw))
    return stacks.get(str(path))


def calls_since(stack: Stack, before: int) -> list[dict[str, Any]]:
    return stack.invocations()[before:]


def test_helper_calls_go_to_the_helper_component(helper_stack: Stack) -> None:
    names = helper_stack.config.names
    before = len(helper_stack.invocations())

    with httpx.Client(base_url=helper_stack.ports.api_url, timeout=120) as api:
        response = api.post("/rag", json={"query": QUESTION, "max_new_tokens": SHORT, **ON})

    assert response.status_code == 200, response.text
    check_report(response.json(), on=True)
    calls = calls_since(helper_stack, before)
    by_component = {
        name: [call for call in calls if call["component"] == name]
        for name in (names.helper_component, names.llm_component, names.embedding_component)
    }
    assert [len(found) for found in by_component.values()] == [2, 1, 1]
    helper_requests = [call["stats"]["request"] for call in by_component[names.helper_component]]
    # The helper's chat format: messages, at temperature 0; the answer: a completion prompt.
    assert all("messages" in request for request in helper_requests)
    assert all(request["temperature"] == 0 for request in helper_requests)
    assert "prompt" in by_component[names.llm_component][0]["stats"]["request"]


def test_a_helper_at_zero_copies_leaves_the_plain_search_and_an_answer(
    helper_stack: Stack,
) -> None:
    helper = helper_stack.config.names.helper_component
    set_copies(helper_stack, helper, 0)
    try:
        with httpx.Client(base_url=helper_stack.ports.api_url, timeout=120) as api:
            response = api.post("/rag", json={"query": QUESTION, "max_new_tokens": SHORT, **ON})
    finally:
        set_copies(helper_stack, helper, 1)

    assert response.status_code == 200, response.text
    retrieval = response.json()["retrieval"]
    assert retrieval["phrasings"] == [QUESTION]
    assert sorted(retrieval["fallbacks"]) == ["expand_failed", "self_query_failed"]


def test_the_helper_is_listed_among_the_endpoints_components(helper_stack: Stack) -> None:
    health = httpx.get(f"{helper_stack.ports.endpoint_url}/ping", timeout=10).json()

    assert health["components"][helper_stack.config.names.helper_component] == "llm"


def test_the_config_file_of_ones_own_named_the_stack(helper_stack: Stack, tmp_path: Path) -> None:
    assert helper_stack.config.name == "twin-with-helper"
    assert helper_stack.endpoint == "twin-with-helper-endpoint"
