"""The LLM microservice: a SageMaker endpoint with autoscaled inference components."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from model_config.schema import DeploymentConfig
from stacks import constants
from stacks.constructs.model_endpoint import ModelEndpoint


class InferenceStack(cdk.Stack):
    """Endpoint, components and their scaling for one model config."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.model_endpoint = ModelEndpoint(self, constants.MODEL_ENDPOINT, config=config)
        endpoint = self.model_endpoint
        cdk.CfnOutput(self, constants.OUTPUT_ENDPOINT_NAME, value=endpoint.endpoint_name)
        cdk.CfnOutput(self, constants.OUTPUT_LLM_COMPONENT, value=endpoint.llm_component.name)
        cdk.CfnOutput(
            self, constants.OUTPUT_EMBEDDING_COMPONENT, value=endpoint.embedding_component.name
        )
        if endpoint.reranker_component:
            cdk.CfnOutput(
                self, constants.OUTPUT_RERANKER_COMPONENT, value=endpoint.reranker_component.name
            )
        if endpoint.helper_component:
            cdk.CfnOutput(
                self, constants.OUTPUT_HELPER_COMPONENT, value=endpoint.helper_component.name
            )
