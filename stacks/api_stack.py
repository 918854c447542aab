"""The business microservice: the RAG app on Lambda behind an HTTPS REST API."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.constructs.alarms import DeploymentAlarms
from stacks.constructs.batch_api import BatchUnit
from stacks.constructs.dashboard import DeploymentDashboard
from stacks.constructs.lambda_web_adapter import web_adapter_frontend
from stacks.constructs.metrics import ObservedDeployment, ObservedFunction
from stacks.constructs.rag_function import (
    METRICS_NAMESPACE,
    SERVICE_NAME,
    RagFunction,
    mangum_frontend,
)
from stacks.constructs.rag_rest_api import RagRestApi


class ApiStack(cdk.Stack):
    """Deploys and updates on its own: it names the endpoint, it does not import it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        endpoint_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.rag_function = RagFunction(
            self,
            constants.RAG_FUNCTION,
            config=config,
            endpoint_name=endpoint_name,
            frontend=mangum_frontend(config),
        )
        self.streaming_function = RagFunction(
            self,
            constants.STREAMING_FUNCTION,
            config=config,
            endpoint_name=endpoint_name,
            frontend=web_adapter_frontend(self, config),
        )
        self.rag_api = RagRestApi(
            self,
            constants.RAG_API,
            buffered=self.rag_function.alias,
            streaming=self.streaming_function.alias,
            api=config.api,
        )
        # OpenAI's Batch API, served by the /v1 (streaming) function: downloads can be large.
        self.batch = BatchUnit(self, constants.BATCH, config=config, endpoint_name=endpoint_name)
        self.batch.serve_from(self.streaming_function)
        self.batch.add_routes(self.rag_api.openai_resource, self.rag_api.streaming_integration)
        observed = ObservedDeployment(
            config=config,
            rest_api=self.rag_api.rest_api,
            functions=self._observed_functions(),
            metrics_namespace=METRICS_NAMESPACE,
            service_name=SERVICE_NAME,
        )
        self.dashboard = DeploymentDashboard(self, constants.DASHBOARD, observed=observed)
        self.alarms = DeploymentAlarms(self, constants.ALARMS, observed=observed)
        self._outputs(config)

    def _observed_functions(self) -> tuple[ObservedFunction, ...]:
        functions = [
            ObservedFunction(
                "", "RAG", self.rag_function.function, self.rag_function.log_group, True
            ),
            ObservedFunction(
                "Streaming",
                "Streaming RAG",
                self.streaming_function.function,
                self.streaming_function.log_group,
                True,
            ),
        ]
        functions.append(
            ObservedFunction(
                "BatchLines",
                "Batch lines",
                self.batch.workflow.runner.function,
                self.batch.workflow.runner.log_group,
                True,
                # A line waiting for a wake-up fails on purpose so Step Functions retries it.
                alarm_on_errors=False,
            )
        )
        authorizer = self.rag_api.authorizer
        if authorizer is not None:
            functions.append(
                ObservedFunction(
                    "Authorizer",
                    "Authorizer",
                    authorizer.function,
                    authorizer.log_group,
                    runs_app=False,
                    alarm_on_errors=False,
                )
            )
        return tuple(functions)

    def _outputs(self, config: DeploymentConfig) -> None:
        cdk.CfnOutput(
            self, constants.OUTPUT_DASHBOARD, value=self.dashboard.dashboard.dashboard_name
        )
        cdk.CfnOutput(self, constants.OUTPUT_ALARM_TOPIC, value=self.alarms.topic.topic_arn)
        cdk.CfnOutput(self, constants.OUTPUT_API_URL, value=f"{self.rag_api.url}rag")
        cdk.CfnOutput(self, constants.OUTPUT_OPENAI_BASE_URL, value=f"{self.rag_api.url}v1")
        cdk.CfnOutput(
            self, constants.OUTPUT_FUNCTION_NAME, value=self.rag_function.function.function_name
        )
        cdk.CfnOutput(
            self,
            constants.OUTPUT_STREAMING_FUNCTION_NAME,
            value=self.streaming_function.function.function_name,
        )
        cdk.CfnOutput(
            self, constants.OUTPUT_BATCH_BUCKET, value=self.batch.storage.bucket.bucket_name
        )
        cdk.CfnOutput(
            self,
            constants.OUTPUT_BATCH_STATE_MACHINE,
            value=self.batch.state_machine.state_machine_arn,
        )
        if config.api.auth == "api_key":
            cdk.CfnOutput(self, constants.OUTPUT_API_KEY_ID, value=self.rag_api.api_key.key_id)
