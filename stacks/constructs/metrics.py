"""CloudWatch metrics of one deployment: API, Lambda, endpoint components and RAG steps."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from model_config.schema import DeploymentConfig

FIVE_MINUTES = cdk.Duration.minutes(5)
SAGEMAKER = "AWS/SageMaker"
COMPONENT_UTILIZATION = "/aws/sagemaker/InferenceComponents"
ENDPOINT_UTILIZATION = "/aws/sagemaker/Endpoints"
# Emitted by the RAG app's prompt trace (EMF through Powertools).
RAG_STEPS = ("Embed", "Search", "Rerank", "Generate", "Total")


@dataclass(frozen=True)
class ObservedFunction:
    """One Lambda function of the API and how it is watched."""

    # Construct id suffix and chart label; "" for the original RAG function keeps its alarms.
    key: str
    label: str
    function: lambda_.IFunction
    logs: logs.ILogGroup
    # Writes the app's prompt traces.
    runs_app: bool
    # The authorizer fails by design on every request without a key: its errors are not alarms.
    alarm_on_errors: bool = True


@dataclass(frozen=True)
class ObservedDeployment:
    """What monitoring looks at; the endpoint is known by name (it lives in another stack)."""

    config: DeploymentConfig
    rest_api: apigw.RestApi
    functions: tuple[ObservedFunction, ...]
    metrics_namespace: str
    service_name: str

    @property
    def components(self) -> list[str]:
        return self.config.names.component_names

    @property
    def app_logs(self) -> list[logs.ILogGroup]:
        """Log groups holding the app's prompt traces."""
        return [observed.logs for observed in self.functions if observed.runs_app]

    def component_metric(
        self, component: str, metric_name: str, statistic: str = cloudwatch.Stats.SUM
    ) -> cloudwatch.Metric:
        """An invocation metric of one inference component (namespace AWS/SageMaker).

        Unlabelled, so alarms on it render as plain metric alarms.
        """
        return cloudwatch.Metric(
            namespace=SAGEMAKER,
            metric_name=metric_name,
            dimensions_map={"InferenceComponentName": component},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def component_utilization(self, component: str, metric_name: str) -> cloudwatch.Metric:
        """CPU, memory or GPU use of a component's copies, each 0-100 %."""
        return cloudwatch.Metric(
            namespace=COMPONENT_UTILIZATION,
            metric_name=metric_name,
            dimensions_map={"InferenceComponentName": component},
            statistic=cloudwatch.Stats.AVERAGE,
            period=FIVE_MINUTES,
            label=f"{component} {metric_name}",
        )

    def copies(self, component: str) -> cloudwatch.Metric:
        """Copies reporting utilization each minute: the running copy count."""
        return cloudwatch.Metric(
            namespace=COMPONENT_UTILIZATION,
            metric_name="CPUUtilizationNormalized",
            dimensions_map={"InferenceComponentName": component},
            statistic=cloudwatch.Stats.SAMPLE_COUNT,
            period=cdk.Duration.minutes(1),
            label=f"{component} copies",
        )

    def instances(self) -> cloudwatch.Metric:
        """Instances reporting utilization each minute: the running instance count."""
        return cloudwatch.Metric(
            namespace=ENDPOINT_UTILIZATION,
            metric_name="CPUUtilizationNormalized",
            dimensions_map={
                "EndpointName": self.config.names.endpoint,
                "VariantName": "AllTraffic",
            },
            statistic=cloudwatch.Stats.SAMPLE_COUNT,
            period=cdk.Duration.minutes(1),
            label="instances",
        )

    def rag_metric(self, metric_name: str, statistic: str) -> cloudwatch.Metric:
        """A metric from the app's prompt traces."""
        return cloudwatch.Metric(
            namespace=self.metrics_namespace,
            metric_name=metric_name,
            dimensions_map={"service": self.service_name, "model_id": self.config.llm.model_id},
            statistic=statistic,
            period=FIVE_MINUTES,
            label=f"{metric_name} {statistic}",
        )
