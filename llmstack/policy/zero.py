"""Scale to zero and wake from zero (pure): the rules of a ``replicas.min: 0`` deployment.

- **idle-to-zero** (cost): nothing arrives (the router's arrival rate is 0, else the engines'
  completions, with nothing queued or running) for the deployment's ``replicas.idle_window`` ->
  0 replicas. The idle time counts from the first idle cycle plus the signals' rate window (a
  zero rate over the window means nothing arrived during it). Only this rule takes a deployment
  to zero: every other rule's proposal is floored at 1. It skips the stabilization window and the
  step limit (the idle window is its stabilization); cooldown and rate limit still apply. It
  never acts without the router's signals: at zero they are the only way to see arrivals.
- **wake-from-zero** (SLO): at 0 replicas the engines export nothing, so the router's signals
  (the requests its hold keeps and HAProxy's backend queue; arrivals from HAProxy's backend
  request counter and the hold's counter: :func:`llmstack.catalog.signals.router_signals`; in the
  simulator the fleet's hold queue and arrivals) decide: held requests or arrivals -> at least 1
  replica, sized by the arrival rate over what one replica sustains within the SLO. No cooldown
  or rate limit holds it back: every cycle of delay is held requests nearer their timeout.
- **wake-settling** (SLO): for a start-up plus two rate windows after a wake, the engines' queue,
  TTFT and completions show the held backlog draining onto the first replica, not demand (read
  as demand, they started replicas that came up after the backlog was gone). In that period
  the deployment is sized on the router's arrival rate alone, and never scaled in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from llmstack.catalog import signals as catalog
from llmstack.spec.durations import parse_duration

IDLE_CONDITION = "idle"
ROUTER_SIGNALS = ("router_queue_length", "router_request_rate")
"""The router's signals that wake a deployment at zero (of :func:`llmstack.catalog.signals.router_signals`)."""
IDLE_SIGNALS = ("router_request_rate", "router_queue_length", "request_rate", "queue_length", "running_requests")
DEFAULT_WINDOW_S = parse_duration(catalog.RATE_WINDOW)


@dataclass(frozen=True)
class ZeroMove:
    replicas: int
    rule: str
    reason: str
    used: tuple[str, ...]


def is_idle(values: Mapping[str, float]) -> bool:
    """Nothing arrived over the window and nothing waits or runs anywhere."""
    if any(values.get(n, 0.0) > 0 for n in ("router_queue_length", "queue_length", "running_requests")):
        return False
    rate = values.get("router_request_rate", values.get("request_rate"))
    return rate is not None and rate <= 0


def window_s(window: str) -> float:
    """Seconds of a snapshot's rate window (the catalog's default when it is not a duration)."""
    try:
        return parse_duration(window)
    except ValueError:
        return DEFAULT_WINDOW_S


def to_zero(values: Mapping[str, float], current: int, idle_s: float | None,
            idle_window_s: float) -> ZeroMove | str | None:
    """0 replicas once the deployment has been idle for ``idle_window_s`` (None: not idle now, or not long
    enough); why not (str) when no router signal is read: at zero nothing could wake it."""
    if current <= 0 or idle_s is None or idle_s < idle_window_s:
        return None
    why = f"idle {idle_s:.0f} s >= idle_window {idle_window_s:.0f} s"
    if not all(name in values for name in ROUTER_SIGNALS):
        return (f"{why}, but no router signal (router_queue_length, router_request_rate) would wake it "
                f"at zero: staying at {current}")
    return ZeroMove(0, "idle-to-zero", f"{why}: {current} -> 0", IDLE_SIGNALS)


def wake(values: Mapping[str, float], per_replica_rps: float, low: int, high: int) -> ZeroMove | str | None:
    """Replicas for a deployment at zero: a move, why it cannot tell (str), or None (stay at zero)."""
    held, rate = values.get("router_queue_length"), values.get("router_request_rate")
    if held is None and rate is None:
        if low > 0:
            return ZeroMove(low, "min-replicas", f"replicas.min {low}, 0 running: 0 -> {low}", ())
        return ("0 replicas and no router signal (router_queue_length, router_request_rate): "
                "arrivals cannot be seen, so the deployment cannot be woken")
    held, rate = held or 0.0, rate or 0.0
    if held <= 0 and rate <= 0 and low <= 0:
        return None
    sized = math.ceil(rate / per_replica_rps - 1e-9) if per_replica_rps > 0 else 1
    replicas = min(high, max(1, low, sized))
    sizing = f" ({rate:.2f} req/s over {per_replica_rps:.2f} req/s per replica)" if sized > 1 else ""
    return ZeroMove(replicas, "wake-from-zero",
                    f"{held:.0f} request(s) held at the router, {rate:.3g} req/s arriving, 0 ready: "
                    f"0 -> {replicas}{sizing}", ROUTER_SIGNALS)


def settling(values: Mapping[str, float], per_replica_rps: float, current: int, high: int, since_wake_s: float,
             settle_s: float) -> ZeroMove | str:
    """Within ``settle_s`` of a wake: more replicas only for the router's arrivals; why not (str) otherwise."""
    rate = values.get("router_request_rate", values.get("request_rate", 0.0))
    need = math.ceil(rate / per_replica_rps - 1e-9) if per_replica_rps > 0 else current
    why = (f"settling {since_wake_s:.0f} s after a wake from zero (< {settle_s:.0f} s: start-up + 2 rate windows, "
           f"the engines' queue is the held backlog): {rate:.2f} req/s arriving over {per_replica_rps:.2f} "
           f"req/s per replica needs {need}")
    if need > current:
        replicas = min(high, need)
        return ZeroMove(replicas, "wake-settling", f"{why}: {current} -> {replicas}", ROUTER_SIGNALS)
    return f"{why}: holding {current}"
