"""cdk-nag acknowledgements, each tied to one construct and one finding, with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(
    construct: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()
) -> None:
    """Acknowledge `rule` (e.g. "IAM5") on `construct`, for each finding if any are given."""
    rule_id = f"{PACK}::{PACK}-{rule}"
    ids = [f"{rule_id}[{finding}]" for finding in findings] or [rule_id]
    cdk.Validations.of(construct).acknowledge(
        *(cdk.Acknowledgment(id=ack_id, reason=reason) for ack_id in ids)
    )


def resource_finding(scope: IConstruct, arn: str) -> str:
    """The `Resource::...` form cdk-nag gives an IAM resource, tokens written as <Ref>."""
    return f"Resource::{_render(cdk.Stack.of(scope).resolve(arn))}"


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")
