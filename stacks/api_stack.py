"""The business microservice: the RAG Lambda behind an HTTPS REST API."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.constructs.alarms import DeploymentAlarms
from stacks.constructs.dashboard import DeploymentDashboard
from stacks.constructs.metrics import ObservedDeployment
from stacks.constructs.rag_function import METRICS_NAMESPACE, SERVICE_NAME, RagFunction
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
            self, constants.RAG_FUNCTION, config=config, endpoint_name=endpoint_name
        )
        self.rag_api = RagRestApi(
            self, constants.RAG_API, handler=self.rag_function.alias, api=config.api
        )
        observed = ObservedDeployment(
            config=config,
            rest_api=self.rag_api.rest_api,
            function=self.rag_function.function,
            function_logs=self.rag_function.log_group,
            metrics_namespace=METRICS_NAMESPACE,
            service_name=SERVICE_NAME,
        )
        self.dashboard = DeploymentDashboard(self, constants.DASHBOARD, observed=observed)
        self.alarms = DeploymentAlarms(self, constants.ALARMS, observed=observed)
        cdk.CfnOutput(
            self, constants.OUTPUT_DASHBOARD, value=self.dashboard.dashboard.dashboard_name
        )
        cdk.CfnOutput(self, constants.OUTPUT_ALARM_TOPIC, value=self.alarms.topic.topic_arn)
        cdk.CfnOutput(self, constants.OUTPUT_API_URL, value=f"{self.rag_api.url}rag")
        cdk.CfnOutput(
            self, constants.OUTPUT_FUNCTION_NAME, value=self.rag_function.function.function_name
        )
        if config.api.auth == "api_key":
            cdk.CfnOutput(self, constants.OUTPUT_API_KEY_ID, value=self.rag_api.api_key.key_id)
