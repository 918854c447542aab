"""Declarative deployment configs (one YAML per model) and the schema that validates them."""

from model_config.loader import DEFAULT_MODEL, ConfigError, available_models, load_config
from model_config.schema import DeploymentConfig

__all__ = ["DEFAULT_MODEL", "ConfigError", "DeploymentConfig", "available_models", "load_config"]
