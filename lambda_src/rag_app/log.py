"""The app's one Powertools logger (structured JSON on stdout, read by CloudWatch)."""

from __future__ import annotations

import os

from aws_lambda_powertools.logging import Logger

SERVICE_NAME = os.getenv("POWERTOOLS_SERVICE_NAME") or "llm-twin-rag"

logger = Logger(service=SERVICE_NAME)
