"""The business microservice: the RAG Lambda behind an HTTPS REST API."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.constructs.rag_function import RagFunction
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
        cdk.CfnOutput(self, constants.OUTPUT_API_URL, value=f"{self.rag_api.url}rag")
        cdk.CfnOutput(
            self, constants.OUTPUT_FUNCTION_NAME, value=self.rag_function.function.function_name
        )
        if config.api.auth == "api_key":
            cdk.CfnOutput(self, constants.OUTPUT_API_KEY_ID, value=self.rag_api.api_key.key_id)
