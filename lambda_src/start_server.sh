#!/bin/bash
# The streaming function's handler: the Lambda Web Adapter's /opt/bootstrap (the function's
# AWS_LAMBDA_EXEC_WRAPPER) runs it, then forwards each request to this server on AWS_LWA_PORT.
set -euo pipefail
# The bundle, layers, and the runtime's own boto3 (left out of the bundle).
export PYTHONPATH="${LAMBDA_TASK_ROOT}:/opt/python:${LAMBDA_RUNTIME_DIR:-/var/runtime}"
# Loopback only: the adapter in the same sandbox is the one client. API Gateway keeps the
# access log, so uvicorn does not write one too. The factory adds the Web Adapter's SnapStart
# hook routes when the adapter's AWS_LWA_SNAPSTART_* variables name them.
exec python -m uvicorn rag_app.lifecycle:create_served_app --factory \
    --host 127.0.0.1 --port "${AWS_LWA_PORT}" --no-server-header --no-access-log
