"""Regions a deployment can reach: both the inference components and the Web Adapter layer."""

from __future__ import annotations

import aws_cdk as cdk

from stacks.constructs.lambda_web_adapter import LAYER_REGIONS

# Where CloudFormation has AWS::SageMaker::InferenceComponent (cfn-lint's region schemas,
# 2026-10-20: E3006 "resource type does not exist" in every other commercial region).
INFERENCE_COMPONENT_REGIONS = (
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2",
    "me-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-2",
)  # fmt: skip
DEPLOYABLE_REGIONS = tuple(r for r in INFERENCE_COMPONENT_REGIONS if r in LAYER_REGIONS)
RULE_ID = "DeployableRegion"


class RegionError(ValueError):
    """The stack's region lacks inference components or the adapter layer."""


def require_deployable_region(stack: cdk.Stack) -> None:
    """Fail synth for a known region outside the list; otherwise fail the deploy early."""
    allowed = ", ".join(DEPLOYABLE_REGIONS)
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in DEPLOYABLE_REGIONS:
            raise RegionError(
                f"region {stack.region} cannot host this deployment: it needs "
                f"AWS::SageMaker::InferenceComponent and the Lambda Web Adapter layer; "
                f"deploy to one of: {allowed}"
            )
        return
    # A region-agnostic stack learns its region at deploy time: a rule stops it there,
    # before CloudFormation creates anything.
    cdk.CfnRule(
        stack,
        RULE_ID,
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_contains(list(DEPLOYABLE_REGIONS), cdk.Aws.REGION),
                assert_description=(
                    "this region has no SageMaker inference components or no Lambda Web "
                    f"Adapter layer; deploy to one of: {allowed}"
                ),
            )
        ],
    )
