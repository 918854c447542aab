"""Capacity and on-demand price of the SageMaker hosting instances a config may name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceSpec:
    """What one instance offers to the inference components placed on it."""

    gpus: int
    vcpus: int
    memory_gib: int
    # SageMaker real-time inference, on demand, us-east-1, USD per hour (AWS price list).
    usd_per_hour: float

    @property
    def memory_mb(self) -> int:
        return self.memory_gib * 1024


# Every ml.g5 carries NVIDIA A10G GPUs with 24 GB each.
INSTANCES: dict[str, InstanceSpec] = {
    "ml.g5.xlarge": InstanceSpec(gpus=1, vcpus=4, memory_gib=16, usd_per_hour=1.408),
    "ml.g5.2xlarge": InstanceSpec(gpus=1, vcpus=8, memory_gib=32, usd_per_hour=1.515),
    "ml.g5.4xlarge": InstanceSpec(gpus=1, vcpus=16, memory_gib=64, usd_per_hour=2.03),
    "ml.g5.8xlarge": InstanceSpec(gpus=1, vcpus=32, memory_gib=128, usd_per_hour=3.06),
    "ml.g5.12xlarge": InstanceSpec(gpus=4, vcpus=48, memory_gib=192, usd_per_hour=7.09),
    "ml.g5.16xlarge": InstanceSpec(gpus=1, vcpus=64, memory_gib=256, usd_per_hour=6.12),
    "ml.g5.24xlarge": InstanceSpec(gpus=4, vcpus=96, memory_gib=384, usd_per_hour=10.18),
    "ml.g5.48xlarge": InstanceSpec(gpus=8, vcpus=192, memory_gib=768, usd_per_hour=20.36),
}

# SageMaker keeps part of each instance for its own agents; components may not claim it.
RESERVED_MEMORY_MB = 1024
RESERVED_VCPUS = 0.5
