"""Simulated time for the demo: the policy engine sees the fleet as if it ran at real speed.

The demo replays a trace ``speed`` times faster than it was recorded and the simulated
replicas run ``speed`` times faster than real time, so:

- latencies the replicas export (TTFT, TPOT histograms) are already in simulated seconds;
- counters advance ``speed`` times faster per wall second, so every rate Prometheus returns
  (unit ``.../s``) is divided by ``speed`` to be a simulated rate;
- the policy runs with ``now`` on the simulated clock, so its ``for:`` durations,
  stabilization windows and cooldowns are simulated seconds; Prometheus sample timestamps
  (``oldest_sample``) are mapped onto the same clock;
- rate and quantile windows are given in wall seconds (``window``): a window of ``10s`` at
  ``speed`` 10 covers 100 simulated seconds.

:class:`ScaledSource` wraps any :class:`~llmstack.metrics.reading.MetricsSource` and does
the rewriting, keyed by the expressions :func:`llmstack.metrics.queries.cycle_queries`
builds, so the engine's reading code runs unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from llmstack.catalog import signals as catalog
from llmstack.metrics import queries
from llmstack.metrics.reading import MetricsSource, Sample


@dataclass(frozen=True)
class SimClock:
    """Simulated epoch seconds: ``sim_origin`` at wall ``wall_origin``, ``speed`` x faster after."""

    speed: float
    wall_origin: float
    sim_origin: float

    @classmethod
    def starting_now(cls, speed: float, wall: Callable[[], float] = time.time) -> SimClock:
        now = wall()
        return cls(speed, now, now)

    def to_sim(self, wall_epoch: float) -> float:
        return self.sim_origin + (wall_epoch - self.wall_origin) * self.speed

    def elapsed(self, wall_epoch: float) -> float:
        """Simulated seconds since the origin at wall time ``wall_epoch``."""
        return (wall_epoch - self.wall_origin) * self.speed

    def now(self, wall: Callable[[], float] = time.time) -> float:
        return self.to_sim(wall())


@dataclass(frozen=True)
class _Rewrite:
    name: str
    expr: str
    scale: float
    timestamp: bool = False


def rewrites(speed: float, window: str) -> dict[str, _Rewrite]:
    """Catalog-window expression -> what to ask instead and how to scale its values (pure)."""
    demo = catalog.by_name(window)
    out: dict[str, _Rewrite] = {}
    for default in queries.signal_queries():
        signal = demo[default.name]
        scale = 1.0 / speed if signal.unit.endswith("/s") else 1.0
        out[default.expr] = _Rewrite(default.name, signal.expr, scale)
    for meta in queries.meta_queries():
        out[meta.expr] = _Rewrite(meta.name, meta.expr, 1.0, timestamp=meta.name == queries.OLDEST_SAMPLE)
    return out


class ScaledSource:
    """A :class:`MetricsSource` that answers the engine's queries in simulated units."""

    def __init__(self, source: MetricsSource, clock: SimClock, window: str) -> None:
        self.source = source
        self.clock = clock
        self.window = window
        self._rewrites = rewrites(clock.speed, window)

    def query(self, expr: str) -> list[Sample]:
        rule = self._rewrites.get(expr)
        if rule is None:
            return self.source.query(expr)
        samples = self.source.query(rule.expr)
        if rule.timestamp:
            return [replace(s, value=self.clock.to_sim(s.value)) for s in samples]
        if rule.scale != 1.0:
            return [replace(s, value=s.value * rule.scale) for s in samples]
        return samples
