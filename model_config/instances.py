"""Capacity and on-demand price of the SageMaker hosting instances a config may name."""

from __future__ import annotations

from dataclasses import dataclass

# AWS does not publish how much of an instance inference components may reserve: the API
# reference defines MinMemoryRequiredInMb only as "the minimum MB of memory to allocate"
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InferenceComponentComputeResourceRequirements.html)
# and neither the inference component guide nor the ProductionVariant reference gives a figure
# per instance type. The one measurement found is a field report on ml.g5.xlarge (16 GiB): a
# 1024 MB reservation was placed and a 4096 MB one refused with "There is not enough hardware
# resources on the instances for this endpoint to create a copy of the inference component"
# (Hugging Face's hf-cloud-sagemaker-production-defaults deployment skill, "Sizing the
# component"). So the schedulable pool is below a quarter of the instance; until AWS documents
# it, components may reserve at most a fifth of an instance's memory. The same report found the
# reservation to be a placement request, not a limit: a copy reserving 1024 MB ran vLLM using
# several GB of host memory.
COMPONENT_MEMORY_SHARE = 0.2
# Not measured either; half a core is left for SageMaker's own agents.
RESERVED_VCPUS = 0.5


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

    @property
    def usable_vcpus(self) -> float:
        """vCPUs inference components may claim."""
        return self.vcpus - RESERVED_VCPUS

    @property
    def usable_memory_mb(self) -> int:
        """Memory (MB) inference components may reserve together on one instance."""
        return int(self.memory_mb * COMPONENT_MEMORY_SHARE)


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
