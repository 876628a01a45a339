"""The demo's "apply": write ``llmstack:scaling`` to the local stack file, then make the processes follow.

For a local stack, ``pulumi up`` is replaced by a reconciler that does what the Kubernetes
or Docker target would: start or stop replicas (a :class:`~llmstack.demo.engines.ReplicaFleet`:
simulated or real vLLM engines),
rewrite Prometheus' file_sd targets, regenerate haproxy.cfg and hot-reload HAProxy.

Order matters so no request is lost: on scale-out the replicas start before the router
sends them traffic; on scale-in the router stops sending first, then Prometheus stops
scraping, then the replica drains its in-flight requests (in a background thread, so the
policy loop goes on) and stops. The stack file is written with the policy engine's own
helpers (:mod:`llmstack.policy.applying`: atomic, under its lock file). The demo reconciles
replica counts; a variant, pool or tensor-parallel change is refused (the demo policy
turns those rules off).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from llmstack.artifacts.haproxy import backend_name
from llmstack.demo import config
from llmstack.demo.engines import ReplicaFleet, add_replicas
from llmstack.demo.monitoring import Monitoring
from llmstack.demo.router import Router
from llmstack.demo.timeline import ReplicaChange
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.policy import applying
from llmstack.policy.recommendation import Recommendation
from llmstack.spec.models import StackSpec


def engine_change(rec: Recommendation) -> str | None:
    """What besides the replica count ``rec`` changes (None: replicas only)."""
    cur, new = rec.current, rec.proposed
    changed = [k for k in ("variant", "pool", "tensor_parallel") if getattr(cur, k) != getattr(new, k)]
    return ", ".join(f"{k} {getattr(cur, k)} -> {getattr(new, k)}" for k in changed) or None


def _drain(fleet: ReplicaFleet, port: int, drain_s: float) -> None:
    with contextlib.suppress(LlmstackError, TimeoutError, RuntimeError):
        fleet.remove_replica(port, drain_s)


class Reconciler:
    """Owns the replica sets; :meth:`apply` is the ``apply`` callable of :func:`llmstack.policy.loop.run_once`."""

    def __init__(self, stack: StackSpec, router_name: str, fleets: Mapping[str, ReplicaFleet], router: Router,
                 monitoring: Monitoring, ports: config.DemoPorts, stack_file: Path, *, drain_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.stack = stack
        self.router_name = router_name
        self.fleets = dict(fleets)
        self.router = router
        self.monitoring = monitoring
        self.ports = ports
        self.stack_file = stack_file
        self.drain_s = drain_s
        self.clock = clock
        """The time each :class:`ReplicaChange` records (the demo passes its simulated clock)."""
        self.changes: list[ReplicaChange] = []
        self._order: dict[str, list[int]] = {d: list(f.ports) for d, f in self.fleets.items()}
        self._draining: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.busy = False
        """True while :meth:`apply` runs (a real engine's start takes a minute or more)."""

    def replicas(self) -> dict[str, list[int]]:
        """deployment -> ports of its replicas, oldest first."""
        with self._lock:
            return {d: list(ports) for d, ports in self._order.items()}

    def router_config(self) -> str:
        return config.haproxy_config(self.stack, self.router_name, self.replicas(), self.ports)

    def write_stack_file(self, recommendations: Sequence[Recommendation]) -> None:
        """Lay the recommendations over ``llmstack:scaling`` in the stack file (atomic, locked)."""
        with applying.locked(self.stack_file):
            data = applying.read_stack_file(self.stack_file)
            scaling = applying.merged_scaling(applying.current_overrides(self.stack_file), recommendations)
            atomic_write_text(self.stack_file, applying.render_stack_file(data, scaling))

    def apply(self, recommendations: Sequence[Recommendation]) -> list[ReplicaChange]:
        for rec in recommendations:
            other = engine_change(rec)
            if other is not None:
                raise LlmstackError(f"the demo reconciles replica counts only, not {other}",
                                    path=f"deployments[{rec.deployment}]",
                                    hint="policies/demo.yaml turns vertical and variant rules off")
            if rec.deployment not in self.fleets:
                raise LlmstackError(f"the demo runs no replicas of {rec.deployment!r}")
        self.write_stack_file(recommendations)
        self.busy = True
        try:
            return [c for rec in recommendations
                    if (c := self.scale(rec.deployment, rec.proposed.replicas)) is not None]
        finally:
            self.busy = False

    def scale(self, deployment: str, replicas: int) -> ReplicaChange | None:
        """Bring ``deployment`` to ``replicas`` running replicas, router and Prometheus included."""
        fleet = self.fleets[deployment]
        with self._lock:
            current = list(self._order[deployment])
        if replicas == len(current):
            return None
        added: list[int] = []
        removed: list[int] = []
        if replicas > len(current):
            added = add_replicas(fleet, replicas - len(current))
            with self._lock:
                self._order[deployment] = current + added
            self.monitoring.write_targets(deployment, current + added)
        else:
            removed = current[replicas:]
            with self._lock:
                self._order[deployment] = current[:replicas]
        self.router.reload(self.router_config())
        names = {config.server_name(deployment, p) for p in self.replicas()[deployment]}
        followed = self.router.wait_servers(backend_name(deployment), names)
        if removed:
            self.monitoring.write_targets(deployment, current[:replicas])
            for port in removed:
                thread = threading.Thread(target=_drain, args=(fleet, port, self.drain_s),
                                          name=f"drain-{deployment}-{port}", daemon=True)
                thread.start()
                self._draining.append(thread)
        change = ReplicaChange(self.clock(), deployment, len(current), replicas, tuple(added), tuple(removed),
                               followed)
        self.changes.append(change)
        return change

    def wait_drained(self) -> None:
        """Let replicas that are draining finish (each at most ``drain_s``)."""
        for thread in self._draining:
            thread.join(timeout=self.drain_s + 5)
        self._draining = [t for t in self._draining if t.is_alive()]
