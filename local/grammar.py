"""Structured output for the local engines: JSON schemas as llama.cpp grammars."""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import json_schema_to_gbnf


def check_json_schema(schema: Any) -> str | None:
    """Why `schema` cannot constrain a generation, or None if it can."""
    if not isinstance(schema, dict):
        return "the schema must be a JSON object"
    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception as err:  # the converter raises bare Exceptions and KeyErrors
        return str(err) or type(err).__name__
    return None
