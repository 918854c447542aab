"""The SageMaker endpoint that hosts the LLM, embedding and reranker inference components."""

from __future__ import annotations

from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from model_config.schema import DeploymentConfig, LlmComponent, TeiComponent
from stacks.constructs.container_images import TEI_CPU, TGI, ContainerImages, ImageRequest
from stacks.constructs.execution_role import EndpointExecutionRole
from stacks.constructs.inference_component import ComponentSpec, InferenceComponent

VARIANT_NAME = "AllTraffic"
TGI_KEY = "Tgi"
TEI_KEY = "TeiCpu"


class ModelEndpoint(Construct):
    """Endpoint, endpoint config, execution role and one InferenceComponent per model."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        self.endpoint_name = names.endpoint
        images = ContainerImages(
            self,
            "Images",
            [
                ImageRequest(TGI_KEY, TGI, config.llm.tgi_version),
                ImageRequest(TEI_KEY, TEI_CPU, config.embedding.tei_version),
            ],
        )
        self.execution_role = EndpointExecutionRole(
            self,
            "ExecutionRole",
            repository_arns=[images.repository_arn(TGI_KEY), images.repository_arn(TEI_KEY)],
            endpoint_name=names.endpoint,
            component_names=names.component_names,
        )
        endpoint_config = self._endpoint_config(config)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=names.endpoint,
            endpoint_config_name=endpoint_config.attr_endpoint_config_name,
        )
        self._scale_to_zero = config.endpoint.scale_to_zero
        self.llm_component = self._add_component(
            "LlmComponent",
            ComponentSpec(
                name=names.llm_component,
                image_uri=images.uri(TGI_KEY),
                environment=self._tgi_environment(config.llm),
                compute=config.llm,
                accelerators=config.llm.num_gpus,
            ),
        )
        self.embedding_component = self._add_component(
            "EmbeddingComponent",
            ComponentSpec(
                name=names.embedding_component,
                image_uri=images.uri(TEI_KEY),
                environment=_tei_environment(config.embedding),
                compute=config.embedding,
            ),
        )
        self.reranker_component: InferenceComponent | None = None
        if config.reranker is not None and names.reranker_component:
            self.reranker_component = self._add_component(
                "RerankerComponent",
                ComponentSpec(
                    name=names.reranker_component,
                    image_uri=images.uri(TEI_KEY),
                    environment=_tei_environment(config.reranker),
                    compute=config.reranker,
                ),
            )

    def _add_component(self, construct_id: str, spec: ComponentSpec) -> InferenceComponent:
        return InferenceComponent(
            self,
            construct_id,
            spec=spec,
            endpoint=self.endpoint,
            variant_name=VARIANT_NAME,
            execution_role_arn=self.execution_role.role.role_arn,
            scale_to_zero=self._scale_to_zero,
        )

    def _endpoint_config(self, config: DeploymentConfig) -> sagemaker.CfnEndpointConfig:
        endpoint = config.endpoint
        return sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            # Inference components need the role here, and a variant without ModelName.
            execution_role_arn=self.execution_role.role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    instance_type=endpoint.instance_type,
                    initial_instance_count=endpoint.initial_instances,
                    managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                        status="ENABLED",
                        min_instance_count=endpoint.min_instances,
                        max_instance_count=endpoint.max_instances,
                    ),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        # Long generations make round robin pile requests onto busy copies.
                        routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                    ),
                    # Sized for the largest component: the LLM's weights download and load.
                    container_startup_health_check_timeout_in_seconds=config.llm.startup_health_check_timeout_s,
                    model_data_download_timeout_in_seconds=config.llm.model_download_timeout_s,
                )
            ],
        )

    def _tgi_environment(self, llm: LlmComponent) -> dict[str, str]:
        env = {
            "HF_MODEL_ID": llm.model_id,
            "SM_NUM_GPUS": str(llm.num_gpus),
            "DTYPE": llm.dtype,
            "MAX_INPUT_TOKENS": str(llm.max_input_tokens),
            "MAX_TOTAL_TOKENS": str(llm.max_total_tokens),
        }
        if llm.max_batch_prefill_tokens:
            env["MAX_BATCH_PREFILL_TOKENS"] = str(llm.max_batch_prefill_tokens)
        if llm.quantize:
            env["HF_MODEL_QUANTIZE"] = llm.quantize
            # TGI refuses an explicit dtype together with most quantizers.
            del env["DTYPE"]
        if llm.hf_token_secret_name:
            # CloudFormation resolves this dynamic reference at deploy time: the token is
            # not in the template, but it is stored in the SageMaker Model's environment.
            secret = secretsmanager.Secret.from_secret_name_v2(
                self, "HfTokenSecret", llm.hf_token_secret_name
            )
            env["HF_TOKEN"] = secret.secret_value.unsafe_unwrap()
        return env


def _tei_environment(component: TeiComponent) -> dict[str, str]:
    return {"HF_MODEL_ID": component.model_id}
