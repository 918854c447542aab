"""Find, read and validate the model config files that sit beside this module."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from model_config.schema import DeploymentConfig

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "twin-llama-3.1-8b"


class ConfigError(ValueError):
    """A config that cannot be deployed; the message names the file and the field."""


def available_models(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the shipped configs, i.e. the YAML file names without suffix."""
    return sorted(path.stem for path in config_dir.glob("*.yaml"))


def load_config(name: str = DEFAULT_MODEL, config_dir: Path = CONFIG_DIR) -> DeploymentConfig:
    """Load `<name>.yaml` and validate it, or fail with a message a user can act on.

    `name` may instead be the path of a YAML file of your own (ending in .yaml or .yml).
    """
    if name.endswith((".yaml", ".yml")):
        own = Path(name).expanduser()
        if not own.is_file():
            raise ConfigError(f"model config file {name} not found")
        return parse_config_file(own)
    path = config_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_models(config_dir)) or "none"
        raise ConfigError(f"unknown model config {name!r}; available: {known}")
    return parse_config_file(path)


def parse_config_file(path: Path) -> DeploymentConfig:
    """Validate one YAML file; its name is the config's name."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping of fields at the top level")
    if raw.setdefault("name", path.stem) != path.stem:
        raise ConfigError(f"{path.name}: name: {raw['name']!r} differs from the file name")
    try:
        return DeploymentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path.name}: {_describe(err)}") from None


def _describe(err: ValidationError) -> str:
    """One line per problem: `field.path: reason`."""
    lines = []
    for problem in err.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "(config)"
        reason = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{field}: {reason}")
    return "; ".join(lines)
