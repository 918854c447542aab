"""One inference component on the shared endpoint: its model, its copies and their scaling."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from model_config.schema import ROLLING_BATCH_PERCENT, ROLLING_WAIT_S, Compute

# The L1 property classes have long names; this keeps the construct readable.
IC = sagemaker.CfnInferenceComponent

COPY_COUNT_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
NO_CAPACITY_METRIC = "NoCapacityInvocationFailures"
# Application Auto Scaling acts on SageMaker through this service-linked role, which it
# creates on first use; a role of our own would add nothing but an unused resource.
SCALING_SERVICE_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


@dataclass(frozen=True)
class ComponentSpec:
    """What differs between the LLM, embedding and reranker components."""

    name: str
    image_uri: str
    environment: dict[str, str]
    compute: Compute
    accelerators: int = 0
    # S3 prefix SageMaker copies to /opt/ml/model before the container starts.
    model_data_s3_uri: str | None = None


class InferenceComponent(Construct):
    """A SageMaker Model, the inference component that places it, and its autoscaling."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ComponentSpec,
        endpoint: sagemaker.CfnEndpoint,
        variant_name: str,
        execution_role_arn: str,
        role_permissions: IConstruct,
        scale_to_zero: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = spec.name
        compute = spec.compute
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=execution_role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=spec.image_uri,
                environment=spec.environment,
                model_data_source=_model_data_source(spec.model_data_s3_uri),
            ),
        )
        # CreateModel checks the role can pull the image: on a first deploy the role's policy
        # must exist by then (as aws-cdk's sagemaker-alpha Model orders it).
        self.model.node.add_dependency(role_permissions)
        requirements = IC.InferenceComponentComputeResourceRequirementsProperty(
            number_of_cpu_cores_required=compute.cpu_cores,
            min_memory_required_in_mb=compute.memory_mb,
            number_of_accelerator_devices_required=spec.accelerators or None,
        )
        self.component = IC(
            self,
            "Component",
            inference_component_name=spec.name,
            endpoint_name=endpoint.attr_endpoint_name,
            variant_name=variant_name,
            specification=IC.InferenceComponentSpecificationProperty(
                model_name=self.model.attr_model_name,
                compute_resource_requirements=requirements,
                startup_parameters=IC.InferenceComponentStartupParametersProperty(
                    container_startup_health_check_timeout_in_seconds=compute.startup_health_check_timeout_s,
                    model_data_download_timeout_in_seconds=compute.model_download_timeout_s,
                ),
            ),
            # Starts with one copy even when it may scale to zero: the deployment checks
            # that the container really comes up before CloudFormation reports success.
            runtime_config=IC.InferenceComponentRuntimeConfigProperty(
                copy_count=max(compute.scaling.min_copies, 1)
            ),
            deployment_config=IC.InferenceComponentDeploymentConfigProperty(
                # Replace half the copies at a time (the API allows 5-50 % of the copy count),
                # so an update never drops all capacity; the limit covers every batch of the
                # largest copy count (see Compute.rolling_update_s).
                rolling_update_policy=IC.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=IC.InferenceComponentCapacitySizeProperty(
                        type="CAPACITY_PERCENT", value=ROLLING_BATCH_PERCENT
                    ),
                    wait_interval_in_seconds=ROLLING_WAIT_S,
                    maximum_execution_timeout_in_seconds=compute.rolling_update_timeout_s,
                )
            ),
        )
        self.wake_policy: appscaling.StepScalingAction | None = None
        self.no_capacity_alarm: cloudwatch.Alarm | None = None
        self.scalable_target = self._scale_copies(compute, scale_to_zero)

    def _scale_copies(self, compute: Compute, scale_to_zero: bool) -> appscaling.ScalableTarget:
        scaling = compute.scaling
        target = appscaling.ScalableTarget(
            self,
            "CopyScaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{self.name}",
            scalable_dimension=COPY_COUNT_DIMENSION,
            min_capacity=scaling.min_copies,
            max_capacity=scaling.max_copies,
            role=iam.Role.from_role_arn(
                self,
                "ScalingServiceRole",
                cdk.Stack.of(self).format_arn(
                    service="iam", region="", resource="role", resource_name=SCALING_SERVICE_ROLE
                ),
            ),
        )
        # The target refers to the component by name only, so order it explicitly.
        target.node.add_dependency(self.component)
        target.scale_to_track_metric(
            "ConcurrencyTracking",
            # 10-second data points: reacts to bursts far sooner than per-minute metrics.
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION,
            target_value=scaling.target_concurrent_requests_per_copy,
            scale_in_cooldown=cdk.Duration.seconds(scaling.scale_in_cooldown_s),
            scale_out_cooldown=cdk.Duration.seconds(scaling.scale_out_cooldown_s),
        )
        if scale_to_zero:
            self._wake_from_zero(target, compute.copy_start_limit_s)
        return target

    def _wake_from_zero(self, target: appscaling.ScalableTarget, start_limit_s: int) -> None:
        """At zero copies target tracking has no metric to act on: a refused call adds a copy.

        The policy and alarm follow AWS's recipe:
        https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html
        """
        self.wake_policy = appscaling.StepScalingAction(
            self,
            "WakeFromZero",
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            # Refusals go on until the new copy is up (minutes). Within the cooldown, the copy
            # being added counts toward the next +1, so one wake adds exactly one copy; the
            # cooldown lasts as long as SageMaker lets a copy take to start.
            cooldown=cdk.Duration.seconds(start_limit_s),
        )
        self.wake_policy.add_adjustment(adjustment=1, lower_bound=0)
        self.no_capacity_alarm = cloudwatch.Alarm(
            self,
            "NoCapacityAlarm",
            alarm_description=f"{self.name} refused a request for lack of copies: add one",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=NO_CAPACITY_METRIC,
                dimensions_map={"InferenceComponentName": self.name},
                statistic=cloudwatch.Stats.SUM,
                period=cdk.Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.wake_on(self.no_capacity_alarm)

    def wake_on(self, alarm: cloudwatch.Alarm) -> None:
        """Let `alarm` add a copy too (another component refused a request this one serves)."""
        if self.wake_policy is None:
            raise ValueError(f"{self.name} does not scale to zero")
        alarm.add_alarm_action(cw_actions.ApplicationScalingAction(self.wake_policy))


def _model_data_source(s3_uri: str | None) -> sagemaker.CfnModel.ModelDataSourceProperty | None:
    """Uncompressed files under an S3 prefix, copied as they are (no model.tar.gz)."""
    if s3_uri is None:
        return None
    return sagemaker.CfnModel.ModelDataSourceProperty(
        s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
            s3_uri=s3_uri, s3_data_type="S3Prefix", compression_type="None"
        )
    )
