"""Log groups the stack owns: retention from the model config, deleted by `cdk destroy`."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def owned_log_group(
    scope: Construct, construct_id: str, *, retention_days: int, name: str | None = None
) -> logs.LogGroup:
    """A log group created by the stack, so a service never creates one that outlives it.

    `name` is the name a service writes to on its own (SageMaker, API Gateway); without it
    the group gets a generated name and is handed to the writer (Lambda, access logs).
    """
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=RETENTION[retention_days],
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
