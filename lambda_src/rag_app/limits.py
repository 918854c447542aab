"""Bounds the app enforces and the model config is validated against: the one home of each.

The CDK app reads this file too (model_config/app_limits.py), so a config can never ask for
what the deployed app would refuse.
"""

from __future__ import annotations

MAX_QUERY_CHARS = 2000
# Context chunks per request, from the config's top_k or a caller's k.
MAX_K = 20
# Phrasings one question is searched with: the question and up to four rewrites.
MAX_PHRASINGS = 5

# API Gateway's integration timeout for a buffered REST integration, and the longest it allows
# for a streamed response (15 minutes).
BUFFERED_INTEGRATION_TIMEOUT_S = 29
STREAM_INTEGRATION_TIMEOUT_MAX_S = 900
# Seconds a Lambda keeps after the app's own deadline to send the app's error answer.
DEADLINE_MARGIN_S = 3
# app deadline + margin < Lambda timeout < integration timeout, each a whole second apart.
MAX_REQUEST_TIMEOUT_S = BUFFERED_INTEGRATION_TIMEOUT_S - 1 - DEADLINE_MARGIN_S
MAX_STREAM_TIMEOUT_S = STREAM_INTEGRATION_TIMEOUT_MAX_S - 1 - DEADLINE_MARGIN_S
