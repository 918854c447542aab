"""Construct ids, stack names and output names, in one place so tests and docs agree."""

from __future__ import annotations

# Stack ids get the config's name appended, so several models can be deployed side by side.
INFERENCE_STACK = "LlmTwinInference"
API_STACK = "LlmTwinApi"

# Construct ids inside the stacks.
MODEL_ENDPOINT = "ModelEndpoint"

# CloudFormation output names.
OUTPUT_ENDPOINT_NAME = "EndpointName"
OUTPUT_LLM_COMPONENT = "LlmComponentName"
OUTPUT_EMBEDDING_COMPONENT = "EmbeddingComponentName"
OUTPUT_RERANKER_COMPONENT = "RerankerComponentName"
OUTPUT_HELPER_COMPONENT = "HelperComponentName"
RAG_FUNCTION = "RagFunction"
STREAMING_FUNCTION = "StreamingRagFunction"
RAG_API = "RagApi"
OUTPUT_API_URL = "RagApiUrl"
# Base URL for OpenAI clients (`base_url`), ending in /v1.
OUTPUT_OPENAI_BASE_URL = "OpenAiBaseUrl"
OUTPUT_API_KEY_ID = "ApiKeyId"
OUTPUT_FUNCTION_NAME = "RagFunctionName"
OUTPUT_STREAMING_FUNCTION_NAME = "StreamingRagFunctionName"
BATCH = "Batch"
OUTPUT_BATCH_BUCKET = "BatchBucketName"
OUTPUT_BATCH_STATE_MACHINE = "BatchStateMachineArn"
DASHBOARD = "Dashboard"
ALARMS = "Alarms"
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"
