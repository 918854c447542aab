"""What the local stack tells its children to load: a shipped config, or a file of one's own."""

from __future__ import annotations

from pathlib import Path

from local.processes import LocalStack
from local.settings import Ports
from model_config import load_config


def model_args(service_args: list[str]) -> str:
    return service_args[service_args.index("--model") + 1]


def test_children_load_the_shipped_config_by_name(tmp_path: Path) -> None:
    stack = LocalStack(load_config("smollm2-1.7b"), tmp_path / "store", Ports(8181, 8282))

    assert model_args(stack.endpoint.args) == "smollm2-1.7b"
    assert model_args(stack.batch_runner.args) == "smollm2-1.7b"


def test_children_load_a_config_file_by_its_path(tmp_path: Path) -> None:
    own = tmp_path / "mine.yaml"
    config = load_config("smollm2-1.7b").model_copy(update={"name": "mine"})

    stack = LocalStack(config, tmp_path / "store", Ports(8181, 8282), model=str(own))

    assert model_args(stack.endpoint.args) == str(own)
    assert model_args(stack.batch_runner.args) == str(own)
    # The API gets the settings themselves, named after the file's config.
    assert stack.api.env["RAG_ENDPOINT_NAME"] == "mine-endpoint"
