"""What a simulation takes: the scaling settings under test, the deployment and the timings."""

from __future__ import annotations

from dataclasses import dataclass, replace

from model_config import DeploymentConfig
from model_config.instances import INSTANCES


class SettingsError(ValueError):
    """Scaling settings that cannot be simulated; the message says which and why."""


@dataclass(frozen=True)
class ScalingSettings:
    """The LLM component's `scaling:` block: what a recommendation changes."""

    target: float
    min_copies: int
    max_copies: int
    scale_in_cooldown_s: int
    scale_out_cooldown_s: int
    name: str = "candidate"

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise SettingsError(f"{self.name}: target must be positive, got {self.target}")
        if not 0 <= self.min_copies <= self.max_copies or self.max_copies < 1:
            raise SettingsError(
                f"{self.name}: need 0 <= min ({self.min_copies}) <= max ({self.max_copies}), max >= 1"
            )
        if self.scale_in_cooldown_s < 0 or self.scale_out_cooldown_s < 0:
            raise SettingsError(f"{self.name}: cooldowns cannot be negative")

    @classmethod
    def from_config(cls, config: DeploymentConfig, name: str = "current") -> ScalingSettings:
        scaling = config.llm.scaling
        return cls(
            target=scaling.target_concurrent_requests_per_copy,
            min_copies=scaling.min_copies,
            max_copies=scaling.max_copies,
            scale_in_cooldown_s=scaling.scale_in_cooldown_s,
            scale_out_cooldown_s=scaling.scale_out_cooldown_s,
            name=name,
        )

    def with_changes(self, text: str, name: str) -> ScalingSettings:
        """`"target=6,max=3,out=120"` applied on top of these settings."""
        values: dict[str, float] = {
            "target": self.target,
            "min": self.min_copies,
            "max": self.max_copies,
            "in": self.scale_in_cooldown_s,
            "out": self.scale_out_cooldown_s,
        }
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = (piece.strip() for piece in part.partition("="))
            if key not in values or not value:
                raise SettingsError(
                    f"bad candidate setting {part!r}: use {', '.join(values)} as key=value"
                )
            try:
                number = float(value)
            except ValueError:
                raise SettingsError(f"bad candidate value in {part!r}") from None
            if key != "target" and not number.is_integer():
                raise SettingsError(f"{key} takes a whole number, got {value}")
            values[key] = number
        return ScalingSettings(
            target=values["target"],
            min_copies=int(values["min"]),
            max_copies=int(values["max"]),
            scale_in_cooldown_s=int(values["in"]),
            scale_out_cooldown_s=int(values["out"]),
            name=name,
        )

    def describe(self) -> str:
        return (
            f"target {self.target:g}/copy, copies {self.min_copies}-{self.max_copies}, "
            f"cooldowns out {self.scale_out_cooldown_s} s / in {self.scale_in_cooldown_s} s"
        )


@dataclass(frozen=True)
class CopyShape:
    """What one copy of a component reserves on an instance."""

    gpus: int
    cpus: float
    memory_mb: int


@dataclass(frozen=True)
class Gatekeeper:
    """A component beside the LLM: the embedder and reranker, which every request passes
    before it, or the helper, which takes room but refuses no request (its calls fall back)."""

    role: str
    shape: CopyShape
    copies: int
    can_sleep: bool
    blocks_requests: bool = True


@dataclass(frozen=True)
class Deployment:
    """The endpoint around the LLM: instance type, bounds, other components, deadline."""

    instance_type: str
    instance_gpus: int
    instance_cpus: float
    instance_memory_mb: int
    usd_per_hour: float
    min_instances: int
    max_instances: int
    initial_instances: int
    llm: CopyShape
    gatekeepers: tuple[Gatekeeper, ...]
    deadline_s: float

    @classmethod
    def from_config(cls, config: DeploymentConfig) -> Deployment:
        spec = INSTANCES[config.endpoint.instance_type]
        gpus = {role: component.num_gpus for role, component in config.gpu_components.items()}
        gatekeepers = tuple(
            Gatekeeper(
                role=role,
                # The helper takes whole GPUs like the LLM; TEI components none.
                shape=CopyShape(gpus.get(role, 0), component.cpu_cores, component.memory_mb),
                copies=max(component.scaling.min_copies, 1),
                can_sleep=component.scaling.min_copies == 0,
                blocks_requests=role != "helper",
            )
            for role, component in config.components.items()
            if role != "llm"
        )
        return cls(
            instance_type=config.endpoint.instance_type,
            instance_gpus=spec.gpus,
            instance_cpus=spec.usable_vcpus,
            instance_memory_mb=spec.usable_memory_mb,
            usd_per_hour=spec.usd_per_hour,
            min_instances=config.endpoint.min_instances,
            max_instances=config.endpoint.max_instances,
            initial_instances=config.endpoint.initial_instances,
            llm=CopyShape(config.llm.num_gpus, config.llm.cpu_cores, config.llm.memory_mb),
            gatekeepers=gatekeepers,
            deadline_s=config.api.request_timeout_s,
        )

    def copies_per_instance(self) -> int:
        """LLM copies that fit on one empty instance."""
        shape = self.llm
        by_gpu = self.instance_gpus // shape.gpus if shape.gpus else 10**6
        return int(
            min(
                by_gpu,
                self.instance_cpus // shape.cpus,
                self.instance_memory_mb // shape.memory_mb,
            )
        )

    def max_copies_bound(self) -> int:
        """The most LLM copies `max_instances` can hold (other components aside)."""
        return self.max_instances * self.copies_per_instance()


@dataclass(frozen=True)
class Timing:
    """Start-up and reaction times AWS gives no number for: stated defaults, all overridable."""

    # CloudWatch publishing plus Application Auto Scaling reacting: "usually 1-2 minutes"
    # beyond the alarm's own window (rules.SCALE_TO_ZERO_BLOG_URL); the lower end.
    alarm_reaction_s: int = 60
    # A new ml.g5 instance: "the provisioning process takes several minutes"
    # (rules.SCALE_TO_ZERO_URL). Five minutes.
    instance_launch_s: int = 300
    # An LLM copy on a running instance: image pull, weight download, load, health check.
    # Bounded above by the config's model_download_timeout_s + startup_health_check_timeout_s.
    llm_copy_start_s: int = 300
    # A TEI copy (embedder, reranker): a small image and a model of tens of MB.
    gatekeeper_copy_start_s: int = 60
    # An instance with no copies is released after this (rules.SCALE_TO_ZERO_BLOG_URL: "after
    # 10 additional minutes of inactivity, SageMaker automatically stops all underlying instances").
    instance_idle_release_s: int = 600
    # The wake-up step policy's cooldown; for_config takes the stack's (the copy start limit).
    wake_cooldown_s: int = 60

    @classmethod
    def for_config(cls, config: DeploymentConfig, **overrides: int) -> Timing:
        """Defaults, checked against the config's start-up timeouts."""
        defaults = {"wake_cooldown_s": config.llm.copy_start_limit_s}
        timing = replace(cls(), **(defaults | overrides))
        limit = config.llm.model_download_timeout_s + config.llm.startup_health_check_timeout_s
        if timing.llm_copy_start_s > limit:
            raise SettingsError(
                f"an LLM copy start of {timing.llm_copy_start_s} s exceeds the config's "
                f"timeouts ({limit} s): SageMaker would fail that copy; raise "
                "llm.model_download_timeout_s / startup_health_check_timeout_s"
            )
        return timing
