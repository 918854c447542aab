"""The SageMaker endpoint that hosts the LLM, embedding and reranker inference components."""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from model_config.schema import DeploymentConfig, LlmComponent
from stacks.constructs.container_images import ContainerImages, ImageRequest
from stacks.constructs.execution_role import EndpointExecutionRole
from stacks.constructs.inference_component import ComponentSpec, InferenceComponent
from stacks.constructs.log_groups import owned_log_group
from stacks.constructs.serving_engines import (
    ENGINES,
    HOST_AMI_BY_CUDA_MAJOR,
    TEI_KEY,
    llm_environment,
    tei_environment,
    tei_image,
)

VARIANT_NAME = "AllTraffic"
# Where SageMaker writes the containers' logs: one group per endpoint, one per component.
ENDPOINT_LOGS = "/aws/sagemaker/Endpoints"
COMPONENT_LOGS = "/aws/sagemaker/InferenceComponents"
INSTANCE_SCALE_IN_STRATEGY = "IDLE_RELEASE"
# Where SageMaker puts model data from S3, and the variable naming the model for each engine.
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
MODEL_LOCATION_VARIABLES = {"vllm": "SM_VLLM_MODEL", "tgi": "HF_MODEL_ID"}
METRIC_PUBLISH_FREQUENCY_S = 60


class ModelEndpoint(Construct):
    """Endpoint, endpoint config, execution role, log groups and one InferenceComponent per model."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        self.endpoint_name = names.endpoint
        engine_images = engine_image_requests(config)
        # One entry per distinct image: a helper on the LLM's image shares its key.
        engine_keys = list(dict.fromkeys(request.key for request in engine_images.values()))
        images = ContainerImages(
            self, "Images", [*dict.fromkeys(engine_images.values()), tei_image(config.embedding)]
        )
        self.log_groups = self._log_groups(config)
        gpu_components = config.gpu_components.values()
        self.execution_role = EndpointExecutionRole(
            self,
            "ExecutionRole",
            # Only the repositories of the images this config runs.
            repository_arns=[
                *(images.repository_arn(key) for key in engine_keys),
                images.repository_arn(TEI_KEY),
            ],
            endpoint_name=names.endpoint,
            log_groups=list(self.log_groups.values()),
            model_data_s3_uris=tuple(c.weights_s3_uri for c in gpu_components if c.weights_s3_uri),
        )
        self.host_ami = self._host_ami(images, engine_keys)
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
            self._engine_spec(
                names.llm_component, images.uri(engine_images["llm"].key), config.llm, "HfToken"
            ),
        )
        self.embedding_component = self._add_component(
            "EmbeddingComponent",
            ComponentSpec(
                name=names.embedding_component,
                image_uri=images.uri(TEI_KEY),
                environment=tei_environment(config.embedding),
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
                    environment=tei_environment(config.reranker),
                    compute=config.reranker,
                ),
            )
        self.helper_component: InferenceComponent | None = None
        if config.helper is not None and names.helper_component:
            self.helper_component = self._add_component(
                "HelperComponent",
                self._engine_spec(
                    names.helper_component,
                    images.uri(engine_images["helper"].key),
                    config.helper,
                    "HelperHfToken",
                ),
            )
        if self._scale_to_zero:
            self._wake_together()

    @property
    def components(self) -> list[InferenceComponent]:
        found = [
            self.llm_component,
            self.embedding_component,
            self.reranker_component,
            self.helper_component,
        ]
        return [component for component in found if component is not None]

    def _log_groups(self, config: DeploymentConfig) -> dict[str, logs.LogGroup]:
        names = config.names
        group_names = {
            "EndpointLogs": f"{ENDPOINT_LOGS}/{names.endpoint}",
            "LlmComponentLogs": f"{COMPONENT_LOGS}/{names.llm_component}",
            "EmbeddingComponentLogs": f"{COMPONENT_LOGS}/{names.embedding_component}",
        }
        if names.reranker_component:
            group_names["RerankerComponentLogs"] = f"{COMPONENT_LOGS}/{names.reranker_component}"
        if names.helper_component:
            group_names["HelperComponentLogs"] = f"{COMPONENT_LOGS}/{names.helper_component}"
        return {
            construct_id: owned_log_group(
                self,
                construct_id,
                name=name,
                retention_days=config.endpoint.log_retention_days,
            )
            for construct_id, name in group_names.items()
        }

    @staticmethod
    def _host_ami(images: ContainerImages, engine_image_keys: list[str]) -> str:
        """The one host image whose NVIDIA driver runs every engine image (LLM and helper)."""
        amis = set()
        for key in engine_image_keys:
            cuda = images.cuda_major(key)
            if cuda not in HOST_AMI_BY_CUDA_MAJOR:
                raise ValueError(f"no SageMaker host image known for a CUDA {cuda} image ({key})")
            amis.add(HOST_AMI_BY_CUDA_MAJOR[cuda])
        if len(amis) > 1:
            raise ValueError(
                "the LLM and helper engine images need different host images "
                f"({', '.join(sorted(amis))}): choose engine versions built for one CUDA major"
            )
        return amis.pop()

    def _add_component(self, construct_id: str, spec: ComponentSpec) -> InferenceComponent:
        return InferenceComponent(
            self,
            construct_id,
            spec=spec,
            endpoint=self.endpoint,
            variant_name=VARIANT_NAME,
            execution_role_arn=self.execution_role.role.role_arn,
            role_permissions=self.execution_role.policy,
            scale_to_zero=self._scale_to_zero,
        )

    def _wake_together(self) -> None:
        """One request after idle wakes every component it needs.

        Every request embeds first and stops at the first refusal, so with all components
        at zero the LLM and reranker would never see it: the embedder's refusal wakes them
        too (the schema keeps them from outlasting the embedder, so they are asleep then).
        """
        alarm = self.embedding_component.no_capacity_alarm
        if alarm is None:
            raise ValueError("the embedding component has no wake-up alarm")
        for component in self.components:
            if component is not self.embedding_component:
                component.wake_on(alarm)

    def _endpoint_config(self, config: DeploymentConfig) -> sagemaker.CfnEndpointConfig:
        endpoint = config.endpoint
        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            # Inference components need the role here, and a variant without ModelName.
            execution_role_arn=self.execution_role.role.role_arn,
            # Stated rather than left to defaults that differ between old and new endpoint
            # configs: per-minute utilization metrics, no per-container or Prometheus metrics
            # (custom CloudWatch metrics, billed per metric); scaling reads its own
            # high-resolution concurrency metric either way.
            metrics_config=sagemaker.CfnEndpointConfig.MetricsConfigProperty(
                enable_enhanced_metrics=False,
                enable_detailed_observability=False,
                metric_publish_frequency_in_seconds=METRIC_PUBLISH_FREQUENCY_S,
            ),
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    instance_type=endpoint.instance_type,
                    initial_instance_count=endpoint.initial_instances,
                    inference_ami_version=self.host_ami,
                    managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                        status="ENABLED",
                        min_instance_count=endpoint.min_instances,
                        max_instance_count=endpoint.max_instances,
                        # Release instances once no copy is left on them; CONSOLIDATION would
                        # also move running copies to free instances, restarting their models.
                        scale_in_policy=sagemaker.CfnEndpointConfig.ScaleInPolicyProperty(
                            strategy=INSTANCE_SCALE_IN_STRATEGY,
                            cooldown_in_minutes=endpoint.instance_release_cooldown_min,
                            maximum_step_size=1,
                        ),
                    ),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        # Long generations make round robin pile requests onto busy copies.
                        routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                    ),
                    # No startup timeouts here: each component carries its own
                    # (StartupParameters), so an LLM timeout change updates that component
                    # instead of replacing the endpoint config and updating the endpoint.
                )
            ],
        )
        endpoint_config.node.add_dependency(self.execution_role.policy)
        return endpoint_config

    def _engine_spec(
        self, name: str, image_uri: str, llm: LlmComponent, token_id: str
    ) -> ComponentSpec:
        """An LLM or helper component: its engine's image and variables, its GPUs and weights."""
        env = llm_environment(llm)
        if llm.weights_s3_uri:
            # SageMaker has copied the weights here: the engine loads them instead of the Hub's.
            env[MODEL_LOCATION_VARIABLES[llm.engine]] = SAGEMAKER_MODEL_DIR
        if llm.hf_token_secret_name:
            # CloudFormation resolves this dynamic reference at deploy time: the token is
            # not in the template, but it is stored in the SageMaker Model's environment.
            secret = secretsmanager.Secret.from_secret_name_v2(
                self, f"{token_id}Secret", llm.hf_token_secret_name
            )
            env["HF_TOKEN"] = secret.secret_value.unsafe_unwrap()
        return ComponentSpec(
            name=name,
            image_uri=image_uri,
            environment=env,
            compute=llm,
            accelerators=llm.num_gpus,
            model_data_s3_uri=llm.weights_s3_uri,
        )


def engine_image_requests(config: DeploymentConfig) -> dict[str, ImageRequest]:
    """The engine image of each GPU component, by role; the helper shares the LLM's if equal."""
    requests = {"llm": ENGINES[config.llm.engine].image(config.llm)}
    if config.helper is not None:
        helper = ENGINES[config.helper.engine].image(config.helper)
        if helper.key == requests["llm"].key and helper != requests["llm"]:
            # The same engine at another version: its own entry in the image table.
            helper = replace(helper, key=f"Helper{helper.key}")
        requests["helper"] = helper
    return requests
