"""The demo's "apply": write ``llmstack:scaling`` to the local stack file, then make the processes
follow.

For a local stack, ``pulumi up`` is replaced by a reconciler that does what the Kubernetes or Docker
target would: start or stop replicas (a :class:`~llmstack.demo.engines.ReplicaFleet`: simulated or
real vLLM engines), rewrite Prometheus' file_sd targets and change the router's servers.

Order matters so no request is lost: on scale-out the replicas start (and answer ``/health``) before
the router gets them; on scale-in the router puts the replica's server in ``drain`` first (no new
requests; the ones it serves go on), Prometheus stops scraping it, and a background thread (so the
policy loop goes on) waits until the router has no session on it and the replica reports no request,
then deletes the server and stops the replica. The router changes through HAProxy's runtime API,
never a reload (:mod:`llmstack.demo.router` says why); haproxy.cfg is rewritten after each change so
it describes the running router. The stack file is written with the policy engine's own helpers
(:mod:`llmstack.policy.applying`: atomic, under its lock file). The demo reconciles replica counts;
a variant, pool or tensor-parallel change is refused (the demo policy turns those rules off).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from llmstack.artifacts import haproxy
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
        self._draining: dict[str, set[int]] = {}
        """deployment -> ports of replicas being drained (no longer counted, still in the router)."""
        self._drain_threads: list[threading.Thread] = []
        self.drain_errors: list[str] = []
        self._lock = threading.Lock()
        self.busy = False
        """True while :meth:`apply` runs (a real engine's start takes a minute or more)."""

    def replicas(self) -> dict[str, list[int]]:
        """deployment -> ports of its replicas, oldest first."""
        with self._lock:
            return {d: list(ports) for d, ports in self._order.items()}

    def router_config(self) -> str:
        """haproxy.cfg for the replicas that take requests (draining ones are left out: they are on their way out)."""
        return config.haproxy_config(self.stack, self.router_name, self.replicas(), self.ports,
                                     str(self.router.socket_path), str(self.router.hold_script_path))

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
        with self._lock:
            current = list(self._order[deployment])
        if replicas == len(current):
            return None
        started = time.monotonic()
        if replicas > len(current):
            added, removed = self._scale_out(deployment, current, replicas - len(current)), []
            names = {config.server_name(deployment, p) for p in current + added}
            followed = self.router.wait_servers(backend_name(deployment), names | self._draining_names(deployment))
        else:
            added, removed = [], self._scale_in(deployment, current, replicas)
            followed = time.monotonic() - started
        change = ReplicaChange(self.clock(), deployment, len(current), replicas, tuple(added), tuple(removed),
                               followed)
        self.changes.append(change)
        return change

    def _scale_out(self, deployment: str, current: list[int], count: int) -> list[int]:
        added = add_replicas(self.fleets[deployment], count)
        check = config.server_check(self._options()) + haproxy.server_slots(self.stack, deployment).server_options
        for port in added:
            self.router.add_server(backend_name(deployment), config.server_name(deployment, port),
                                   f"{config.HOST}:{port}", check)
        with self._lock:
            self._order[deployment] = current + added
        self.router.write_config(self.router_config())
        self.monitoring.write_targets(deployment, current + added)
        return added

    def _scale_in(self, deployment: str, current: list[int], replicas: int) -> list[int]:
        removed = current[replicas:]
        for port in removed:
            self.router.drain_server(backend_name(deployment), config.server_name(deployment, port))
        with self._lock:
            self._order[deployment] = current[:replicas]
            self._draining.setdefault(deployment, set()).update(removed)
        self.monitoring.write_targets(deployment, current[:replicas])
        for port in removed:
            thread = threading.Thread(target=self._retire, args=(deployment, port),
                                      name=f"drain-{deployment}-{port}", daemon=True)
            thread.start()
            self._drain_threads.append(thread)
        return removed

    def _retire(self, deployment: str, port: int) -> None:
        """Wait until the router has no session on the draining replica (at most ``drain_s``), delete its
        server, then let the fleet stop it (the fleet waits for the engine's own in-flight requests too)."""
        backend, server = backend_name(deployment), config.server_name(deployment, port)
        deadline = time.monotonic() + self.drain_s
        try:
            while time.monotonic() < deadline and self.router.sessions(backend, server) != 0:
                time.sleep(0.2)
            self.router.remove_server(backend, server)
            with contextlib.suppress(LlmstackError):
                self.router.write_config(self.router_config())
            self.fleets[deployment].remove_replica(port, max(1.0, deadline - time.monotonic()))
        except (LlmstackError, TimeoutError, RuntimeError) as exc:
            self.drain_errors.append(f"{server}: {exc}")
        finally:
            with self._lock:
                self._draining.get(deployment, set()).discard(port)

    def _draining_names(self, deployment: str) -> set[str]:
        with self._lock:
            return {config.server_name(deployment, p) for p in self._draining.get(deployment, set())}

    def _options(self) -> haproxy.HaproxyOptions:
        return config.router_options(self.stack, self.router_name, self.ports, str(self.router.socket_path),
                                     str(self.router.hold_script_path))

    def wait_drained(self) -> None:
        """Let replicas that are draining finish (each at most ``drain_s``)."""
        for thread in self._drain_threads:
            thread.join(timeout=self.drain_s + 10)
        self._drain_threads = [t for t in self._drain_threads if t.is_alive()]
