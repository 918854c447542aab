"""The two scaling policies on the LLM component: target tracking on concurrent requests per
copy, and the step policy that wakes it from zero. Each decides a new desired copy count."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from capacity.simulator import rules
from capacity.simulator.settings import ScalingSettings


@dataclass(frozen=True)
class ScalingEvent:
    """One decision: `kind` is scale-out, scale-in, wake, or *-blocked (by a cooldown)."""

    t: float
    kind: str
    before: int
    after: int
    metric: float | None = None


@dataclass
class _Streak:
    """How many of the latest data points breached in a row, and the window's highest value."""

    alarm: rules.AlarmSpec
    count: int = 0
    _window: deque[tuple[int, float]] = field(default_factory=deque)
    _seen: int = 0

    def add(self, value: float | None, target: float) -> bool:
        """Record a point; True while the alarm is in ALARM. Missing data never breaches."""
        self._seen += 1
        if value is None or not self.alarm.breaches(value, target):
            self.count = 0
            self._window.clear()
            return False
        self.count += 1
        # A monotonic queue keeps the window's maximum at its front.
        while self._window and self._window[-1][1] <= value:
            self._window.pop()
        self._window.append((self._seen, value))
        while self._window[0][0] <= self._seen - self.alarm.datapoints:
            self._window.popleft()
        return self.count >= self.alarm.datapoints

    @property
    def highest(self) -> float:
        return self._window[0][1]


@dataclass
class TargetTracking:
    """Target tracking with the alarms Application Auto Scaling creates for the metric."""

    settings: ScalingSettings
    reaction_s: float
    high: rules.AlarmSpec = rules.HIGH_ALARM
    low: rules.AlarmSpec = rules.LOW_ALARM
    events: list[ScalingEvent] = field(default_factory=list)
    _period: deque[float | None] = field(default_factory=deque)
    _high: _Streak = field(init=False)
    _low: _Streak = field(init=False)
    _due: deque[tuple[float, str, float]] = field(default_factory=deque)
    _out_at: float | None = None
    _out_basis: int = 0
    _in_at: float | None = None

    def __post_init__(self) -> None:
        self._period = deque(maxlen=self.high.period_s // rules.DATAPOINT_S)
        self._high = _Streak(self.high)
        self._low = _Streak(self.low)

    def datapoint(self, boundary: float, value: float | None) -> None:
        """A 10-second data point ending at `boundary`; None when no copy served (no data)."""
        target = self.settings.target
        self._period.append(value)
        if boundary % self.high.period_s == 0:
            # One 1-minute data point: the average of its 10-second values.
            present = [p for p in self._period if p is not None]
            minute = sum(present) / len(present) if present else None
            if self._high.add(minute, target):
                self._due.append((boundary + self.reaction_s, "out", self._high.highest))
        if boundary % self.low.period_s == 0 and self._low.add(value, target):
            # Every point in the window is below the threshold; acting on the highest of them
            # keeps the scale-in cautious.
            self._due.append((boundary + self.reaction_s, "in", self._low.highest))

    def next_due(self) -> float | None:
        """When the next scheduled action takes effect, if any."""
        return self._due[0][0] if self._due else None

    def decide(self, t: float, desired: int) -> int:
        """Apply every action whose reaction time has come; return the new desired count."""
        while self._due and self._due[0][0] <= t:
            _, kind, metric = self._due.popleft()
            desired = (
                self._scale_out(t, desired, metric)
                if kind == "out"
                else self._scale_in(t, desired, metric)
            )
        return desired

    def _scale_out(self, t: float, desired: int, metric: float) -> int:
        s = self.settings
        in_cooldown = self._out_at is not None and t < self._out_at + s.scale_out_cooldown_s
        # During the cooldown the capacity the last scale-out added counts toward this one
        # (rules.COOLDOWN_URL): measure from the capacity before it, and only a larger
        # scale-out goes through.
        basis = self._out_basis if in_cooldown else desired
        wanted = rules.clamp(
            rules.desired_copies(basis, metric, s.target), s.min_copies, s.max_copies
        )
        if wanted <= desired:
            unblocked = rules.clamp(
                rules.desired_copies(desired, metric, s.target), s.min_copies, s.max_copies
            )
            if in_cooldown and unblocked > desired:
                self.events.append(ScalingEvent(t, "scale-out-blocked", desired, desired, metric))
            return desired
        if not in_cooldown:
            self._out_basis = desired
        self._out_at = t
        # A scale-out ends any scale-in cooldown at once (rules.COOLDOWN_URL).
        self._in_at = None
        self.events.append(ScalingEvent(t, "scale-out", desired, wanted, metric))
        return wanted

    def _scale_in(self, t: float, desired: int, metric: float) -> int:
        s = self.settings
        wanted = rules.clamp(
            rules.desired_copies(desired, metric, s.target), s.min_copies, s.max_copies
        )
        if wanted >= desired:
            return desired
        if self._in_at is not None and t < self._in_at + s.scale_in_cooldown_s:
            self.events.append(ScalingEvent(t, "scale-in-blocked", desired, desired, metric))
            return desired
        self._in_at = t
        self.events.append(ScalingEvent(t, "scale-in", desired, wanted, metric))
        return wanted


@dataclass
class StepWake:
    """The NoCapacityInvocationFailures alarm and its +1 copy step policy (rules.SCALE_TO_ZERO_URL)."""

    max_copies: int
    reaction_s: float
    cooldown_s: float = rules.WAKE_STEP_COOLDOWN_S
    events: list[ScalingEvent] = field(default_factory=list)
    _due: deque[float] = field(default_factory=deque)
    _last_at: float | None = None

    def period_end(self, boundary: float, refused: float) -> None:
        """The alarm's 1-minute Sum of refused calls; the action repeats while it stays in
        ALARM (rules.ALARM_ACTIONS_URL)."""
        if refused >= rules.WAKE_ALARM_THRESHOLD:
            self._due.append(boundary + self.reaction_s)

    def next_due(self) -> float | None:
        return self._due[0] if self._due else None

    def decide(self, t: float, desired: int) -> int:
        while self._due and self._due[0] <= t:
            self._due.popleft()
            # Within the cooldown the copy just added counts toward this +1 (rules.STEP_COOLDOWN_URL).
            if self._last_at is not None and t < self._last_at + self.cooldown_s:
                continue
            wanted = min(desired + rules.WAKE_STEP_COPIES, self.max_copies)
            if wanted > desired:
                self._last_at = t
                self.events.append(ScalingEvent(t, "wake", desired, wanted))
                desired = wanted
        return desired
