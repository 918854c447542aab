"""The environment variables the RAG app reads, derived from a deployment config.

The Lambda (through ApiStack) and local mode both call this, so the app sees the
same settings wherever it runs. The variable names are the RAG app's contract.
"""

from __future__ import annotations

import json

from model_config.schema import DeploymentConfig, HelperComponent


def rag_environment(config: DeploymentConfig) -> dict[str, str]:
    """Settings for `lambda_src` minus where Qdrant lives (that differs per target)."""
    names = config.names
    generation = config.generation
    env = {
        "RAG_ENDPOINT_NAME": names.endpoint,
        "RAG_LLM_COMPONENT": names.llm_component,
        "RAG_EMBEDDING_COMPONENT": names.embedding_component,
        "RAG_MODEL_ID": config.llm.model_id,
        "RAG_LLM_ENGINE": config.llm.engine,
        "RAG_PROMPT_FORMAT": config.prompt_format,
        "RAG_MAX_INPUT_TOKENS": str(config.llm.max_input_tokens),
        "RAG_CHARS_PER_TOKEN": str(config.retrieval.chars_per_token),
        "RAG_MAX_NEW_TOKENS": str(generation.max_new_tokens),
        "RAG_TEMPERATURE": str(generation.temperature),
        "RAG_TOP_P": str(generation.top_p),
        "RAG_REPETITION_PENALTY": str(generation.repetition_penalty),
        "RAG_STOP": json.dumps(generation.stop),
        "RAG_COLLECTIONS": json.dumps(config.retrieval.collections),
        "RAG_TOP_K": str(config.retrieval.top_k),
        "RAG_QUERY_EXPANSION": str(config.retrieval.query_expansion),
        "RAG_SELF_QUERY": json.dumps(config.retrieval.self_query),
        "RAG_FUSION": config.retrieval.fusion,
        "RAG_HELPER_TIMEOUT_S": str(config.retrieval.helper_timeout_s),
        "RAG_REQUEST_TIMEOUT_S": str(config.api.request_timeout_s),
        "RAG_STREAM_TIMEOUT_S": str(config.api.stream_timeout_s),
    }
    # Only the prompt the format uses: the app refuses one it would ignore.
    if config.prompt_template is not None:
        env["RAG_PROMPT_TEMPLATE"] = config.prompt_template
    if config.system_prompt is not None:
        env["RAG_SYSTEM_PROMPT"] = config.system_prompt
    if config.retrieval.query_expansion_prompt is not None:
        env["RAG_QUERY_EXPANSION_PROMPT"] = config.retrieval.query_expansion_prompt
    if config.retrieval.self_query_prompt is not None:
        env["RAG_SELF_QUERY_PROMPT"] = config.retrieval.self_query_prompt
    if names.reranker_component:
        env["RAG_RERANKER_COMPONENT"] = names.reranker_component
    if config.helper is not None and names.helper_component:
        env["RAG_HELPER"] = json.dumps(helper_model(config.helper, names.helper_component))
    if config.api.cors_origins:
        env["RAG_CORS_ORIGINS"] = json.dumps(config.api.cors_origins)
    return env


def helper_model(helper: HelperComponent, component: str) -> dict[str, object]:
    """What the app needs to call the helper component (its settings.HelperModel)."""
    return {
        "component": component,
        "engine": helper.engine,
        "prompt_format": helper.prompt_format,
        "max_input_tokens": helper.max_input_tokens,
        "max_new_tokens": helper.max_total_tokens - helper.max_input_tokens,
        "stop": helper.stop,
    }
