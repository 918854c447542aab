"""Managed instance scaling: copies go where they fit, a copy that fits nowhere launches an
instance, an instance left without copies is released (rules.MANAGED_INSTANCE_SCALING_URL)."""

from __future__ import annotations

from dataclasses import dataclass, field

from capacity.simulator.settings import CopyShape, Deployment


@dataclass
class Instance:
    """One instance: when it became usable and what is still free on it."""

    ready_at: float
    gpus_free: int
    cpus_free: float
    memory_free_mb: int
    copies: int = 0
    empty_since: float | None = None

    def fits(self, shape: CopyShape) -> bool:
        return (
            shape.gpus <= self.gpus_free
            and shape.cpus <= self.cpus_free + 1e-9
            and shape.memory_mb <= self.memory_free_mb
        )

    def take(self, shape: CopyShape) -> None:
        self.gpus_free -= shape.gpus
        self.cpus_free -= shape.cpus
        self.memory_free_mb -= shape.memory_mb
        self.copies += 1
        self.empty_since = None

    def give_back(self, shape: CopyShape, now: float) -> None:
        self.gpus_free += shape.gpus
        self.cpus_free += shape.cpus
        self.memory_free_mb += shape.memory_mb
        self.copies -= 1
        if self.copies == 0:
            self.empty_since = now


@dataclass
class Fleet:
    """The endpoint's instances, between its minimum and maximum count."""

    deployment: Deployment
    launch_s: float
    idle_release_s: float
    instances: list[Instance] = field(default_factory=list)
    launched: int = 0
    released: int = 0

    def _new_instance(self, ready_at: float, now: float) -> Instance:
        d = self.deployment
        instance = Instance(ready_at, d.instance_gpus, d.instance_cpus, d.instance_memory_mb)
        instance.empty_since = now
        self.instances.append(instance)
        return instance

    def start_with(self, count: int) -> None:
        """Instances already running when the simulation starts."""
        for _ in range(count):
            self._new_instance(0.0, 0.0)

    def place(self, shape: CopyShape, now: float) -> Instance | None:
        """First instance with room, else a new one if the maximum allows, else None."""
        for instance in self.instances:
            if instance.fits(shape):
                instance.take(shape)
                return instance
        if len(self.instances) >= self.deployment.max_instances:
            return None
        instance = self._new_instance(now + self.launch_s, now)
        self.launched += 1
        if not instance.fits(shape):
            raise ValueError("a copy does not fit an empty instance; the config schema forbids it")
        instance.take(shape)
        return instance

    def release_idle(self, now: float) -> None:
        """IDLE_RELEASE: drop instances empty for `idle_release_s`, keeping the minimum."""
        keep_at_least = self.deployment.min_instances
        for instance in list(self.instances):
            if len(self.instances) <= keep_at_least:
                return
            if (
                instance.empty_since is not None
                and now - instance.empty_since >= self.idle_release_s
            ):
                self.instances.remove(instance)
                self.released += 1

    @property
    def count(self) -> int:
        """Instances billing: running, launching, or idle before release."""
        return len(self.instances)
