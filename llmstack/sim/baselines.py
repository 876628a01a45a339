"""Baseline autoscalers: the controllers a policy is compared with, as the simulator's :class:`Autoscaler`.

Names:

- ``static[:N]``: always N replicas (default: the deployment's ``replicas.start``); N is not
  clamped to the deployment's replica range.
- ``hpa[:TARGET]``: Kubernetes HPA on ``gpu_utilization`` (target 0.7 by default):
  ``ceil(current x metric / target)``, no change within the 0.1 tolerance, scale-up at most
  ``max(100 %, 4 pods)`` per period, scale-down to the highest recommendation of the last 300 s
  (the default stabilization window).
- ``keda[:THRESHOLD]``: vLLM production-stack's KEDA ScaledObject on ``num_requests_waiting``
  (plus the router's queue: behind llmstack's router an engine holds at most ``max_num_seqs``, so
  the rest wait there), threshold 5 per replica (an AverageValue target, so ``ceil(queue / 5)`` with HPA's tolerance);
  scale-down waits for a 360 s cooldown (the highest recommendation of the last 360 s). At zero
  replicas the engines export no queue, so (for ``replicas.min: 0``) it activates on the router's
  held requests (``router_queue_length``, the second trigger a scale-to-zero ScaledObject needs),
  one replica per ``THRESHOLD`` held, at least one.
- ``saturation``: llm-d workload-variant-autoscaler style. A replica is saturated at >= 80 %
  KV cache or >= 5 waiting requests (engine and router queues); add one replica when the spare capacity (80 % minus KV
  usage, or 5 minus the queue per replica) falls under 10 % KV or 3 queue slots; remove one
  only when the load spread over one fewer replica would not trigger a scale-up; hold while
  replicas are still starting or draining (one change at a time).

The oracle (a bound, not a controller) is :mod:`llmstack.sim.oracle`; the registry that resolves
``--autoscaler NAME`` (baselines, oracle, ``policy:PATH``) is :mod:`llmstack.experiments.registry`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmstack.sim.protocol import FromDeployment
from llmstack.spec.scaling import Shape, ShapeChange

HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_WINDOW_S = 300.0
KEDA_THRESHOLD = 5.0
KEDA_COOLDOWN_S = 360.0
SATURATION_KV = 0.8
SATURATION_QUEUE = 5.0
SPARE_KV_TRIGGER = 0.1
SPARE_QUEUE_TRIGGER = 3.0


def _present(signals: Mapping[str, float], name: str) -> float | None:
    value = signals.get(name)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class Static:
    replicas: int
    name: str = "static"
    respect_limits: bool = False

    def initial_replicas(self) -> int:
        return self.replicas

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        return self.replicas

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        return None


@dataclass
class _Stabilized:
    """HPA's replica calculation with tolerance, scale-up limit and a scale-down stabilization window."""

    window_s: float
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, now_s: float, current: int, ratio: float | None, raw: int | None = None) -> int:
        if raw is None:
            if ratio is None:
                return current  # no metric: HPA keeps the replica count
            raw = current if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(current * ratio)
        raw = min(raw, current + max(current, 4))
        self.history.append((now_s, raw))
        while self.history and self.history[0][0] < now_s - self.window_s:
            self.history.popleft()
        if raw >= current:
            return raw
        return min(current, max(r for _, r in self.history))


@dataclass
class Hpa(FromDeployment):
    target: float = 0.7
    name: str = "hpa"
    state: _Stabilized = field(default_factory=lambda: _Stabilized(HPA_SCALE_DOWN_WINDOW_S))

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        util = _present(signals, "gpu_utilization")
        if current == 0:
            return 1
        return self.state.decide(now_s, current, None if util is None else util / self.target)


def _waiting(signals: Mapping[str, float]) -> float | None:
    """Requests waiting for a replica: in the engines (``num_requests_waiting``) and at the router, whose
    servers take at most ``max_num_seqs`` each (:mod:`llmstack.sim.fleet`); None with no engine series."""
    queue = _present(signals, "queue_length")
    return None if queue is None else queue + (_present(signals, "router_queue_length") or 0.0)


@dataclass
class Keda(FromDeployment):
    threshold: float = KEDA_THRESHOLD
    name: str = "keda"
    state: _Stabilized = field(default_factory=lambda: _Stabilized(KEDA_COOLDOWN_S))

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        queue = _waiting(signals)
        held = _present(signals, "router_queue_length")
        if current == 0 and queue is None and held:
            return self.state.decide(now_s, 0, None, raw=math.ceil(held / self.threshold))
        if queue is None:
            return current
        if current == 0:
            return self.state.decide(now_s, 0, None, raw=math.ceil(queue / self.threshold))
        ratio = (queue / current) / self.threshold
        if ratio == 0:
            return self.state.decide(now_s, current, None, raw=0)
        return self.state.decide(now_s, current, ratio)


@dataclass
class Saturation(FromDeployment):
    name: str = "saturation"

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        up = int(_present(signals, "replicas_up") or 0)
        kv = _present(signals, "kv_cache_usage")
        queue = _waiting(signals)
        if up == 0 or kv is None or queue is None:
            return max(current, 1)
        if up != current:
            return current  # replicas still starting or draining: wait for the fleet to settle
        spare_kv = SATURATION_KV - kv
        spare_queue = SATURATION_QUEUE - queue / up
        if spare_kv < SPARE_KV_TRIGGER or spare_queue < SPARE_QUEUE_TRIGGER:
            return current + 1
        if up > 1:
            kv_fewer = kv * up / (up - 1)
            queue_fewer = queue / (up - 1)
            if (SATURATION_KV - kv_fewer >= SPARE_KV_TRIGGER
                    and SATURATION_QUEUE - queue_fewer >= SPARE_QUEUE_TRIGGER):
                return current - 1
        return current


