"""Scale to zero: every component and the instances reach zero, and one request wakes them all."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from model_config import DeploymentConfig, load_config
from model_config.schema import Compute
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


def wake_policies(result: Synthesized) -> dict[str, str]:
    """Component name -> logical id of its wake-from-zero step policy."""
    template = result.template(constants.INFERENCE_STACK)
    config = result.config
    found = {}
    for name in component_names(result):
        compute = {
            c: s
            for c, s in zip(config.names.component_names, config.components.values(), strict=True)
        }[name]
        (target_id,) = template.find_resources(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            {"Properties": {"ResourceId": f"inference-component/{name}"}},
        )
        (policy_id,) = template.find_resources(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "Properties": {
                    "PolicyType": "StepScaling",
                    "ScalingTargetId": {"Ref": target_id},
                    # AWS's recipe for waking an inference component from zero.
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ChangeInCapacity",
                        "MetricAggregationType": "Maximum",
                        # A second refusal while the copy starts must not add another.
                        "Cooldown": compute.copy_start_limit_s,
                        "StepAdjustments": [
                            {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
                        ],
                    },
                }
            },
        )
        found[name] = policy_id
    return found


def no_capacity_alarm(result: Synthesized, name: str) -> dict:
    template = result.template(constants.INFERENCE_STACK)
    (alarm,) = template.find_resources(
        "AWS::CloudWatch::Alarm",
        {
            "Properties": {
                "Namespace": "AWS/SageMaker",
                "MetricName": "NoCapacityInvocationFailures",
                "Dimensions": [{"Name": "InferenceComponentName", "Value": name}],
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
            }
        },
    ).values()
    return alarm["Properties"]


def test_each_component_wakes_on_its_own_no_capacity_alarm(synth: Synth) -> None:
    result = synth(SCALES_TO_ZERO)
    for name, policy_id in wake_policies(result).items():
        assert {"Ref": policy_id} in no_capacity_alarm(result, name)["AlarmActions"]


def qwen_scaling_to_zero() -> DeploymentConfig:
    """The config with a reranker, made to scale to zero."""
    config = load_config("qwen2.5-32b")

    def asleep(component: Compute) -> Compute:
        scaling = component.scaling.model_copy(update={"min_copies": 0, "scale_in_cooldown_s": 900})
        return component.model_copy(update={"scaling": scaling})

    return DeploymentConfig.model_validate(
        {
            **config.model_dump(),
            "endpoint": {**config.endpoint.model_dump(), "min_instances": 0, "scale_to_zero": True},
            "llm": asleep(config.llm).model_dump(),
            "embedding": asleep(config.embedding).model_dump(),
            "reranker": asleep(config.reranker).model_dump() if config.reranker else None,
        }
    )


@pytest.mark.parametrize(
    "make_config",
    [lambda: load_config(SCALES_TO_ZERO), qwen_scaling_to_zero],
    ids=["llm-and-embedder", "with-reranker"],
)
def test_a_refused_embedding_wakes_every_component(
    synth: Synth, make_config: Callable[[], DeploymentConfig]
) -> None:
    """Every request embeds first: at zero, its refusal is the only signal anyone gets."""
    result = synth(make_config())
    names = result.config.names
    policies = wake_policies(result)
    embedding_alarm = no_capacity_alarm(result, names.embedding_component)
    assert sorted(action["Ref"] for action in embedding_alarm["AlarmActions"]) == sorted(
        policies.values()
    )
    # The LLM (and reranker) alarms still wake only their own component.
    for name in names.component_names:
        if name != names.embedding_component:
            assert no_capacity_alarm(result, name)["AlarmActions"] == [{"Ref": policies[name]}]


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
