"""Alarms on the API, the Lambda and the endpoint, sent to one SNS topic; optional budget."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.constructs.metrics import FIVE_MINUTES, ObservedDeployment

ENDPOINT_5XX_THRESHOLD = 5
BUDGET_ALERTS = (("ACTUAL", 80), ("FORECASTED", 100))


class DeploymentAlarms(Construct):
    """Everything that pages someone: errors, slowness, throttling, no capacity, cost."""

    def __init__(
        self, scope: Construct, construct_id: str, *, observed: ObservedDeployment
    ) -> None:
        super().__init__(scope, construct_id)
        monitoring = observed.config.monitoring
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"LLM Twin alarms ({observed.config.name})",
            enforce_ssl=True,
        )
        acknowledge(
            self.topic,
            "SNS2",
            "Alarm notifications carry metric names and states only; CloudWatch cannot publish "
            "to a topic encrypted with the AWS-managed SNS key, and a customer key adds cost.",
        )
        if monitoring.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(monitoring.alarm_email))
        self._action = cw_actions.SnsAction(self.topic)
        self._api_alarms(observed)
        self._lambda_alarms(observed)
        self._endpoint_alarms(observed)
        if monitoring.monthly_budget_usd:
            self._budget(observed, monitoring.monthly_budget_usd)

    def _alarm(
        self,
        construct_id: str,
        description: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison_operator: cloudwatch.ComparisonOperator,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison_operator,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def _api_alarms(self, observed: ObservedDeployment) -> None:
        api = observed.rest_api
        monitoring = observed.config.monitoring
        error_rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={
                "errors": api.metric_server_error(period=FIVE_MINUTES),
                "requests": api.metric_count(period=FIVE_MINUTES),
            },
            label="5xx rate (%)",
            period=FIVE_MINUTES,
        )
        self._alarm(
            "Api5xxRate",
            "More than the configured share of API requests answered 5xx",
            metric=error_rate,
            threshold=monitoring.api_5xx_rate_percent,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "ApiP95Latency",
            "API p95 latency above the configured limit in 2 of 3 five-minute periods",
            metric=api.metric_latency(period=FIVE_MINUTES, statistic="p95"),
            threshold=monitoring.api_p95_latency_ms,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _lambda_alarms(self, observed: ObservedDeployment) -> None:
        at_least_one = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        for watched in observed.functions:
            function = watched.function
            if watched.alarm_on_errors:
                self._alarm(
                    f"LambdaErrors{watched.key}",
                    f"The {watched.label} Lambda crashed or timed out (the app's own error "
                    "answers are not errors)",
                    metric=function.metric_errors(period=FIVE_MINUTES),
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=at_least_one,
                )
            self._alarm(
                f"LambdaThrottles{watched.key}",
                f"The {watched.label} Lambda hit its concurrency limit",
                metric=function.metric_throttles(period=FIVE_MINUTES),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=at_least_one,
            )

    def _endpoint_alarms(self, observed: ObservedDeployment) -> None:
        # At zero copies a few refused calls are how the endpoint wakes up; only a
        # refusal lasting 15 minutes means it cannot start a copy.
        no_capacity_periods = 3 if observed.config.endpoint.scale_to_zero else 1
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        for index, component in enumerate(observed.components):
            self._alarm(
                f"Endpoint5xx{index}",
                f"{component} answered {ENDPOINT_5XX_THRESHOLD}+ errors in five minutes",
                metric=observed.component_metric(component, "Invocation5XXErrors"),
                threshold=ENDPOINT_5XX_THRESHOLD,
                evaluation_periods=1,
                comparison_operator=at_least,
            )
            self._alarm(
                f"NoCapacity{index}",
                f"{component} refused requests for lack of copies",
                metric=observed.component_metric(component, "NoCapacityInvocationFailures"),
                threshold=1,
                evaluation_periods=no_capacity_periods,
                comparison_operator=at_least,
            )

    def _budget(self, observed: ObservedDeployment, monthly_usd: float) -> None:
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
            )
        )
        budgets.CfnBudget(
            self,
            "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=monthly_usd, unit="USD"),
                # Counts resources tagged by this app (activate the tag for cost allocation).
                cost_filters={"TagKeyValue": [f"user:model-config${observed.config.name}"]},
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind,
                        comparison_operator="GREATER_THAN",
                        threshold=percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(
                            subscription_type="SNS", address=self.topic.topic_arn
                        )
                    ],
                )
                for kind, percent in BUDGET_ALERTS
            ],
        )
