"""A small deployment whose arithmetic fits in a test docstring."""

from __future__ import annotations

from capacity.simulator.service import ServiceCurve
from capacity.simulator.settings import CopyShape, Deployment, Gatekeeper, ScalingSettings, Timing


def deployment(
    *,
    gpus_per_instance: int = 1,
    min_instances: int = 1,
    max_instances: int = 4,
    gatekeepers: tuple[Gatekeeper, ...] = (),
) -> Deployment:
    """Instances of `gpus_per_instance` GPUs at $3.60/h ($0.001 a second); one GPU per copy."""
    return Deployment(
        instance_type="test",
        instance_gpus=gpus_per_instance,
        instance_cpus=8.0 * gpus_per_instance,
        instance_memory_mb=30_000 * gpus_per_instance,
        usd_per_hour=3.6,
        min_instances=min_instances,
        max_instances=max_instances,
        initial_instances=max(min_instances, 1),
        llm=CopyShape(gpus=1, cpus=4.0, memory_mb=10_000),
        gatekeepers=gatekeepers,
        # Far away: these scenarios are about scaling, not timeouts.
        deadline_s=10_000.0,
    )


def settings(**changes: float) -> ScalingSettings:
    values: dict[str, float] = {
        "target": 4.0,
        "min_copies": 1,
        "max_copies": 4,
        "scale_in_cooldown_s": 600,
        "scale_out_cooldown_s": 300,
    }
    values.update(changes)
    return ScalingSettings(
        target=values["target"],
        min_copies=int(values["min_copies"]),
        max_copies=int(values["max_copies"]),
        scale_in_cooldown_s=int(values["scale_in_cooldown_s"]),
        scale_out_cooldown_s=int(values["scale_out_cooldown_s"]),
        name="test",
    )


def timing(**changes: int) -> Timing:
    values = {
        "alarm_reaction_s": 60,
        "instance_launch_s": 300,
        "llm_copy_start_s": 600,
        "gatekeeper_copy_start_s": 60,
        "instance_idle_release_s": 600,
        "wake_cooldown_s": 60,
    }
    values.update(changes)
    return Timing(**values)


def flat_curve() -> ServiceCurve:
    """Every request takes 5 s, up to 64 at once per copy: in-flight = 5 x arrivals/s."""
    return ServiceCurve((1.0, 64.0), (5.0, 5.0), "flat 5 s")
