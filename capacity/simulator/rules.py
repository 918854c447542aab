"""The AWS scaling rules the simulator applies, each with the page that documents it.

Where AWS publishes no number (how long an instance takes to launch, how long a copy takes to
start), the figure is a parameter of `Timing` with a stated default instead of a rule here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Application Auto Scaling target tracking: it creates and manages the CloudWatch alarms, adds
# capacity in proportion to the metric (a metric that halves when capacity doubles), rounds
# conservatively, and scales in only once the metric is well below the target.
TARGET_TRACKING_URL = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/"
    "target-tracking-scaling-policy-overview.html"
)
# ConcurrentRequestsPerCopy counts requests in flight and queued inside the container, every
# 10 seconds; scale-out reacts faster than with 1-minute metrics, scale-in at the same speed.
HIGH_RESOLUTION_METRIC_URL = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html"
)
# "Application Auto Scaling creates two CloudWatch alarms per scaling target. The first triggers
# scale-out actions after 1 minute (using one 1-minute data point), and the second triggers
# scale-in after 15 minutes (using 90 10-second data points)", plus 1-2 minutes to publish the
# metric and react. Also: with no request for 15 minutes the copies go to zero, and about 10
# minutes later SageMaker stops the idle instances.
SCALE_TO_ZERO_BLOG_URL = (
    "https://aws.amazon.com/blogs/machine-learning/"
    "unlock-cost-savings-with-the-new-scale-down-to-zero-feature-in-sagemaker-inference/"
)
# At zero instances the endpoint refuses requests until a step scaling policy, fired by a
# CloudWatch alarm on NoCapacityInvocationFailures, adds a copy; provisioning takes minutes.
SCALE_TO_ZERO_URL = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html"
)
# Target tracking cooldowns: during a scale-out cooldown only a larger scale-out goes through
# (the capacity just added counts toward the next one); a scale-in cooldown blocks scale-in,
# and a scale-out during it goes ahead at once and ends it.
COOLDOWN_URL = (
    "https://docs.aws.amazon.com/autoscaling/application/APIReference/"
    "API_TargetTrackingScalingPolicyConfiguration.html"
)
# Step scaling cooldown: capacity added by the scale-out that started it counts toward the next.
STEP_COOLDOWN_URL = (
    "https://docs.aws.amazon.com/autoscaling/application/APIReference/"
    "API_StepScalingPolicyConfiguration.html"
)
# Unlike other alarm actions, Auto Scaling actions run again while the alarm stays in ALARM.
ALARM_ACTIONS_URL = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-actions.html"
)
# Managed instance scaling: MinInstanceCount/MaxInstanceCount bound the instances; the
# IDLE_RELEASE scale-in "releases instances that have no hosted inference component copies".
MANAGED_INSTANCE_SCALING_URL = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/"
    "API_ProductionVariantManagedInstanceScalingScaleInPolicy.html"
)
# Scalable target bounds: policies never set capacity below MinCapacity or above MaxCapacity.
SCALABLE_TARGET_URL = (
    "https://docs.aws.amazon.com/autoscaling/application/APIReference/"
    "API_RegisterScalableTarget.html"
)

# The high-resolution metric's data point (HIGH_RESOLUTION_METRIC_URL).
DATAPOINT_S = 10
# A rounding guard: 2.0000000001 copies is 2, not 3.
_EPSILON = 1e-9


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch alarm: `datapoints` consecutive periods beyond `ratio` x the target."""

    period_s: int
    datapoints: int
    ratio: float
    above: bool

    def breaches(self, value: float, target: float) -> bool:
        threshold = self.ratio * target
        return value > threshold if self.above else value < threshold


# Target tracking on the high-resolution metric (SCALE_TO_ZERO_BLOG_URL): scale out on one
# 1-minute data point above the target; scale in on 90 10-second data points below 90 % of it
# (TARGET_TRACKING_URL: "a threshold that is far enough below the target value (usually more than
# 10% lower)"; the alarms AWS creates sit at 90 % of the target).
HIGH_ALARM = AlarmSpec(period_s=60, datapoints=1, ratio=1.0, above=True)
LOW_ALARM = AlarmSpec(period_s=DATAPOINT_S, datapoints=90, ratio=0.9, above=False)

# The wake-up path of stacks/constructs/inference_component.py (SCALE_TO_ZERO_URL): an alarm on
# NoCapacityInvocationFailures, Sum over 1 minute >= 1 for 1 period, missing data not breaching,
# fires a step policy that adds one copy. Its cooldown is the component's copy start limit
# (model download + health check timeouts, DeploymentConfig's Compute.copy_start_limit_s): a
# refusal during it adds nothing more (STEP_COOLDOWN_URL), so a wake-up adds one copy.
WAKE_ALARM_PERIOD_S = 60
WAKE_ALARM_THRESHOLD = 1.0
WAKE_STEP_COPIES = 1
WAKE_STEP_COOLDOWN_S = 60  # only where no config is at hand (unit scenarios)


def desired_copies(current: int, metric: float, target: float) -> int:
    """Capacity that brings the metric back to the target: ceil(current x metric / target).

    The metric changes in inverse proportion to capacity (TARGET_TRACKING_URL), so this is the
    smallest capacity at which the metric would sit at or below the target.
    """
    if current <= 0 or metric <= 0:
        return 0
    return math.ceil(current * metric / target - _EPSILON)


def clamp(copies: int, minimum: int, maximum: int) -> int:
    """Keep a copy count within the scalable target's bounds (SCALABLE_TARGET_URL)."""
    return max(minimum, min(maximum, copies))
