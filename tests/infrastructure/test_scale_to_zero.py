"""Scale to zero: every component and the instances reach zero, and each wakes on its own alarm."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from stacks import constants
from tests.infrastructure.conftest import Synthesized

pytestmark = pytest.mark.xdist_group("cdk")

Synth = Callable[..., Synthesized]
SCALES_TO_ZERO = "smollm2-1.7b"
ALWAYS_ON = "twin-llama-3.1-8b"


def component_names(result: Synthesized) -> list[str]:
    return result.config.names.component_names


def test_small_config_scales_every_component_and_instance_to_zero(synth: Synth) -> None:
    result = synth(SCALES_TO_ZERO)
    template = result.template(constants.INFERENCE_STACK)
    assert result.config.endpoint.scale_to_zero
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {"ManagedInstanceScaling": Match.object_like({"MinInstanceCount": 0})}
                )
            ]
        },
    )
    targets = template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert {t["Properties"]["MinCapacity"] for t in targets.values()} == {0}
    assert len(targets) == len(component_names(result))


def test_each_component_wakes_on_its_own_no_capacity_alarm(synth: Synth) -> None:
    result = synth(SCALES_TO_ZERO)
    template = result.template(constants.INFERENCE_STACK)
    for name in component_names(result):
        targets = template.find_resources(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            {"Properties": {"ResourceId": f"inference-component/{name}"}},
        )
        (target_id,) = targets
        policies = template.find_resources(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "Properties": {
                    "PolicyType": "StepScaling",
                    "ScalingTargetId": {"Ref": target_id},
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ChangeInCapacity",
                        "StepAdjustments": [
                            {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
                        ],
                    },
                }
            },
        )
        (policy_id,) = policies
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SageMaker",
                "MetricName": "NoCapacityInvocationFailures",
                "Dimensions": [{"Name": "InferenceComponentName", "Value": name}],
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": policy_id}],
            },
        )


def test_always_on_config_has_no_wake_up_policies(synth: Synth) -> None:
    result = synth(ALWAYS_ON)
    template = result.template(constants.INFERENCE_STACK)
    assert (
        template.find_resources(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {"Properties": {"PolicyType": "StepScaling"}},
        )
        == {}
    )
    targets = template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert {t["Properties"]["MinCapacity"] for t in targets.values()} == {1}
