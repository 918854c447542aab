"""The simulation loop: one step per second over the traffic, copies and instances changing as
the policies decide, requests served in batches per copy or refused while nothing serves."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from capacity.simulator import rules
from capacity.simulator.fleet import Fleet, Instance
from capacity.simulator.policy import ScalingEvent, StepWake, TargetTracking
from capacity.simulator.result import SimulationResult, Timeline
from capacity.simulator.service import ServiceCurve
from capacity.simulator.settings import Deployment, Gatekeeper, ScalingSettings, Timing
from capacity.simulator.traffic import Traffic

_TINY = 1e-9


@dataclass
class _Copy:
    instance: Instance
    ready_at: float


@dataclass
class _GatekeeperState:
    """A component beside the LLM: `copies` copies while awake, none while asleep."""

    spec: Gatekeeper
    copies: list[_Copy] = field(default_factory=list)
    last_request_at: float = 0.0
    refused_this_minute: float = 0.0
    wake_at: float | None = None

    def ready(self, t: float) -> bool:
        return any(copy.ready_at <= t for copy in self.copies)


class Simulation:
    """One deployment under one traffic profile with one set of scaling settings; `run` once."""

    def __init__(
        self,
        deployment: Deployment,
        settings: ScalingSettings,
        curve: ServiceCurve,
        traffic: Traffic,
        timing: Timing | None = None,
        initial_copies: int | None = None,
    ) -> None:
        self.deployment = deployment
        self.settings = settings
        self.curve = curve
        self.traffic = traffic
        self.timing = timing or Timing()
        self.initial_copies = (
            max(settings.min_copies, 1) if initial_copies is None else initial_copies
        )
        reaction = self.timing.alarm_reaction_s
        self.tracking = TargetTracking(settings, reaction)
        self.wake = StepWake(settings.max_copies, reaction, self.timing.wake_cooldown_s)
        self.fleet = Fleet(
            deployment, self.timing.instance_launch_s, self.timing.instance_idle_release_s
        )
        self.ready: list[_Copy] = []
        self.starting: list[_Copy] = []
        self.unplaced = 0
        self.desired = 0
        self.gatekeepers = [_GatekeeperState(g) for g in deployment.gatekeepers]

    # -- copies and instances -------------------------------------------------------------

    def _start_copies(self, count: int, t: float) -> None:
        start = self.timing.llm_copy_start_s
        for _ in range(count):
            instance = self.fleet.place(self.deployment.llm, t)
            if instance is None:
                self.unplaced += 1
            else:
                self.starting.append(_Copy(instance, max(instance.ready_at, t) + start))

    def _remove_copies(self, count: int, t: float) -> None:
        shape = self.deployment.llm
        dropped = min(count, self.unplaced)
        self.unplaced -= dropped
        count -= dropped
        # Copies still starting go first, the latest first; then ready copies from the
        # emptiest instance, so whole instances free up.
        self.starting.sort(key=lambda c: c.ready_at)
        while count and self.starting:
            copy = self.starting.pop()
            copy.instance.give_back(shape, t)
            count -= 1
        while count and self.ready:
            copy = min(self.ready, key=lambda c: c.instance.copies)
            self.ready.remove(copy)
            copy.instance.give_back(shape, t)
            count -= 1

    def _reconcile(self, t: float) -> None:
        total = len(self.ready) + len(self.starting) + self.unplaced
        if self.desired > total:
            self._start_copies(self.desired - total, t)
        elif self.desired < total:
            self._remove_copies(total - self.desired, t)

    def _retry_unplaced(self, t: float) -> None:
        waiting, self.unplaced = self.unplaced, 0
        self._start_copies(waiting, t)

    def _promote_ready(self, t: float) -> None:
        still: list[_Copy] = []
        for copy in self.starting:
            (self.ready if copy.ready_at <= t else still).append(copy)
        self.starting = still

    def _gatekeeper_copies(self, gate: _GatekeeperState, t: float) -> None:
        start = self.timing.gatekeeper_copy_start_s
        for _ in range(gate.spec.copies):
            instance = self.fleet.place(gate.spec.shape, t)
            if instance is not None:
                gate.copies.append(_Copy(instance, max(instance.ready_at, t) + start))

    def _gatekeepers_sleep(self, t: float) -> None:
        """A gatekeeper that may scale to zero does so after the low alarm's idle window."""
        idle_after = rules.LOW_ALARM.datapoints * rules.DATAPOINT_S + self.timing.alarm_reaction_s
        for gate in self.gatekeepers:
            if gate.spec.can_sleep and gate.copies and t - gate.last_request_at >= idle_after:
                for copy in gate.copies:
                    copy.instance.give_back(gate.spec.shape, t)
                gate.copies.clear()

    def _first_blocked(self, t: float) -> _GatekeeperState | None:
        """The first component on a request's path with no copy ready at `t`, if any."""
        for gate in self.gatekeepers:
            if gate.spec.blocks_requests and not gate.ready(t):
                return gate
        return None

    def _next_event(self, now: float) -> float:
        """The earliest time after `now` something scheduled changes state: a copy becoming
        ready, a policy action, a gatekeeper waking. Steps before it skip all of that."""
        times: list[float | None] = [copy.ready_at for copy in self.starting]
        times += [self.tracking.next_due(), self.wake.next_due()]
        for gate in self.gatekeepers:
            if gate.wake_at is not None:
                times.append(gate.wake_at)
            times += [copy.ready_at for copy in gate.copies]
        upcoming = [time for time in times if time is not None and time > now]
        return min(upcoming) if upcoming else math.inf

    # -- the run ----------------------------------------------------------------------------

    def _setup(self) -> None:
        """Start as deployed: the initial copies ready; an endpoint starting from zero has
        its sleep-capable components at zero too."""
        for gate in self.gatekeepers:
            if self.initial_copies == 0 and gate.spec.can_sleep:
                continue
            self._gatekeeper_copies(gate, 0.0)
            for copy in gate.copies:
                copy.ready_at = 0.0
        self.desired = self.initial_copies
        self._start_copies(self.desired, 0.0)
        for copy in self.starting:
            copy.ready_at = 0.0
        for instance in self.fleet.instances:
            instance.ready_at = 0.0
        self.fleet.launched = 0
        missing = max(self.deployment.initial_instances, self.deployment.min_instances)
        if self.initial_copies == 0:
            missing = self.deployment.min_instances
        self.fleet.start_with(max(0, missing - self.fleet.count))
        self._promote_ready(0.0)

    def run(self) -> SimulationResult:
        self._setup()
        arrivals = self.traffic.arrivals.tolist()
        duration = len(arrivals)
        curve = self.curve
        slots_per_copy = curve.max_concurrency
        latency_of = curve.latency
        longest = math.ceil(curve.latency(slots_per_copy)) + 2
        completions = [0.0] * (duration + longest + 2)
        usd_per_second = self.deployment.usd_per_hour / 3600.0

        queue: deque[list[float]] = deque()
        queued = busy = 0.0
        refused = timed_out = 0.0
        deadline = self.deployment.deadline_s
        llm_refused_minute = 0.0
        metric_sum = 0.0
        metric_seconds = 0
        cost = 0.0
        rec_t: list[float] = []
        rec_latency: list[float] = []
        rec_count: list[float] = []
        timeline = Timeline()
        instances = self.fleet.instances
        window_arrivals = 0.0
        tracking, wake = self.tracking, self.wake

        gatekeepers = self.gatekeepers
        blocked = self._first_blocked(0.0)
        next_event = self._next_event(-1.0)
        last_pass = -1.0
        ready = len(self.ready)
        datapoint_s, minute_s = rules.DATAPOINT_S, rules.WAKE_ALARM_PERIOD_S

        for t in range(duration):
            # 1. What was decided or started earlier takes effect now.
            if t >= next_event:
                if self.starting:
                    self._promote_ready(t)
                decided = wake.decide(t, tracking.decide(t, self.desired))
                if decided != self.desired:
                    self.desired = decided
                    self._reconcile(t)
                for gate in gatekeepers:
                    if gate.wake_at is not None and gate.wake_at <= t:
                        gate.wake_at = None
                        if not gate.copies:
                            self._gatekeeper_copies(gate, t)
                            gate.last_request_at = t
                blocked = self._first_blocked(t)
                next_event = self._next_event(t)
                ready = len(self.ready)

            # 2. Requests admitted earlier finish and free their batch slots.
            busy -= completions[t]
            if busy < _TINY:
                busy = 0.0

            # 3. New requests: refused where a component has no copy ready, else queued.
            arrived = arrivals[t]
            window_arrivals += arrived
            if arrived > 0:
                if blocked is not None:
                    blocked.refused_this_minute += arrived
                    refused += arrived
                else:
                    last_pass = t
                    if ready == 0:
                        llm_refused_minute += arrived
                        refused += arrived
                    else:
                        queue.append([float(t), arrived])
                        queued += arrived
            if ready == 0 and queued > 0:
                refused += queued
                queue.clear()
                queued = 0.0

            # 4. A request still queued at the app's deadline got a 504; the engine drops it
            # when its caller hangs up. Free batch slots take the rest, oldest first.
            while queue and queue[0][0] <= t - deadline:
                expired = queue.popleft()[1]
                timed_out += expired
                queued -= expired
            if queued < _TINY:
                queued = 0.0
            if ready and queued > 0:
                free = ready * slots_per_copy - busy
                if free > _TINY:
                    take = min(free, queued)
                    service = latency_of((busy + take) / ready)
                    left = take
                    while left > _TINY and queue:
                        head = queue[0]
                        part = min(head[1], left)
                        rec_t.append(head[0])
                        rec_latency.append(t - head[0] + service)
                        rec_count.append(part)
                        head[1] -= part
                        left -= part
                        if head[1] <= _TINY:
                            queue.popleft()
                    queued = max(0.0, queued - take)
                    busy += take
                    completions[t + max(1, math.ceil(service - _TINY))] += take

            # 5. The metric: requests in the container (served or queued) per ready copy.
            if ready:
                metric_sum += (busy + queued) / ready
                metric_seconds += 1
            cost += len(instances) * usd_per_second

            # 6. Every 10 s: a data point for the alarms, idle instances released, a row of
            # the timeline; every minute: the wake-up alarms and gatekeepers going idle.
            boundary = t + 1
            if boundary % datapoint_s:
                continue
            tracking.datapoint(boundary, metric_sum / metric_seconds if metric_seconds else None)
            metric_sum, metric_seconds = 0.0, 0
            self.fleet.release_idle(boundary)
            if self.unplaced:
                self._retry_unplaced(boundary)
            timeline.rows.append(
                (
                    boundary,
                    self.desired,
                    ready,
                    len(instances),
                    busy,
                    queued,
                    refused,
                    cost,
                    window_arrivals / datapoint_s,
                )
            )
            window_arrivals = 0.0
            if boundary % minute_s == 0:
                # The embedder's no-capacity alarm fires every component's wake policy, as
                # stacks/constructs/model_endpoint.py wires it: one refused request wakes all.
                first_refused = gatekeepers[0].refused_this_minute if gatekeepers else 0.0
                wake.period_end(boundary, llm_refused_minute + first_refused)
                llm_refused_minute = 0.0
                for gate in gatekeepers:
                    if gate.copies and last_pass > gate.last_request_at:
                        gate.last_request_at = last_pass
                    asleep = not gate.copies and gate.wake_at is None
                    alarmed = gate.refused_this_minute + first_refused
                    if asleep and alarmed >= rules.WAKE_ALARM_THRESHOLD:
                        gate.wake_at = boundary + self.timing.alarm_reaction_s
                    gate.refused_this_minute = 0.0
                self._gatekeepers_sleep(boundary)
                blocked = self._first_blocked(boundary)
            # The alarms may have scheduled actions: look again for the next event.
            next_event = self._next_event(t)

        events: list[ScalingEvent] = sorted(tracking.events + wake.events, key=lambda e: e.t)
        return SimulationResult(
            settings=self.settings,
            traffic_name=self.traffic.name,
            duration_s=duration,
            arrivals=self.traffic.total,
            refused=refused,
            timed_out=timed_out,
            unfinished=queued,
            deadline_s=self.deployment.deadline_s,
            cost_usd=cost,
            timeline=timeline.freeze(),
            request_t=np.asarray(rec_t),
            request_latency=np.asarray(rec_latency),
            request_count=np.asarray(rec_count),
            events=events,
            instances_launched=self.fleet.launched,
        )
