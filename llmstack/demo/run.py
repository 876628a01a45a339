"""Orchestration of ``llmstack demo``: start everything, run the loop, stop everything, report.

1. Load the spec and the policy, build the load (:mod:`llmstack.demo.workload`), find
   ``haproxy`` and ``prometheus`` (a clear error before anything starts if one is missing).
2. Start the replicas (one fleet per routed deployment, :mod:`llmstack.demo.engines`: simulated
   :class:`~llmstack.sim.server.LiveFleet` replicas with ``time_factor`` = speed, or with
   ``engine="vllm"`` real CPU vLLM engines of the first routed deployment), HAProxy and Prometheus with the generated
   configuration (:mod:`llmstack.demo.config`), and the load generator.
3. Threads: the policy loop (every ``interval_s`` wall seconds, :func:`llmstack.policy.loop.run_once`
   against Prometheus through :class:`~llmstack.demo.timebase.ScaledSource`, applying with
   :class:`~llmstack.demo.reconcile.Reconciler`), and a collector (client results, Prometheus
   targets). The caller's thread refreshes the view.
4. Stop on time, when the load is done, or when ``stop`` is set (Ctrl-C): every child process
   and every replica stops in ``finally`` blocks; then the summary and the plot.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmstack.artifacts.haproxy import backend_name
from llmstack.demo import config, engines, report, workload
from llmstack.demo.load_process import Traffic
from llmstack.demo.monitoring import Monitoring
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.reconcile import Reconciler
from llmstack.demo.router import Router
from llmstack.demo.timebase import ScaledSource, SimClock
from llmstack.demo.timeline import Timeline
from llmstack.engine.launcher import group_alive
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.metrics.reading import PrometheusReader
from llmstack.policy import applying, loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import Setting, settings_of
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import load_spec
from llmstack.spec.models import ReplicaRange, StackSpec

STACK_NAME = "demo"
RATE_WINDOW = "10s"
"""Wall-clock window of rates and quantiles (x speed simulated seconds)."""
DEMO_POLICY_NOTE = ("policies/demo.yaml (over default.yaml) shortens the scale-in stabilization and cooldowns "
                    "for a short run, keeps default.yaml's start-up-bound window and saturation floor off, and "
                    "turns the vertical and variant rules off (the demo reconciles replica counts)")


@dataclass(frozen=True)
class DemoOptions:
    spec: Path
    policies: tuple[Path, ...]
    workdir: Path
    duration_s: float = 150.0
    speed: float = 10.0
    burst: float = 3.0
    rate: float = 1.0
    """Base rate of the first routed deployment (simulated requests/s); the burst multiplies it."""
    background_rate: float = 0.3
    """Rate of every other routed deployment (simulated requests/s, no burst)."""
    max_prompt_tokens: int | None = 2048
    """Prompts are clipped to this many tokens (None: as the trace has them)."""
    interval_s: float = 2.0
    drain_s: float = 10.0
    seed: int = 0
    plot: Path | None = None
    engine: str = "sim"
    """``sim`` (simulated replicas) or ``vllm`` (real CPU engines, :mod:`llmstack.demo.engines`)."""
    scale_to_zero: bool = True
    """The last background deployment gets ``replicas.min: 0`` and an idle gap in its load: it idles to zero
    and wakes on the requests its router holds (simulated replicas only: real engines serve one deployment)."""


@dataclass
class DemoResult:
    summary: dict[str, Any]
    rows: list[report.DeploymentSummary]
    interrupted: bool
    plot: Path | None = None
    pids: list[int] = field(default_factory=list)


def _stream_specs(stack: StackSpec, router: str, options: DemoOptions) -> list[workload.StreamSpec]:
    deployments = _routed(stack, router)
    if not deployments:
        raise LlmstackError("the stack's first router routes to no deployment", path="routers")
    clip = options.max_prompt_tokens
    specs = [workload.StreamSpec(deployments[0], "azure-conv", options.rate, options.burst, clip)]
    if options.engine == "vllm":  # real engines: the first deployment only
        return specs
    idle = zero_deployment(deployments, options)
    specs += [workload.StreamSpec(d, "azure-code", options.background_rate, max_prompt_tokens=clip,
                                  idle_gap=d == idle)
              for d in deployments[1:]]
    return specs


ZERO_IDLE_WINDOW = "1m"
"""The demo's idle window (simulated; the shortest allowed): with the 10 s (x speed) rate window, a 40 s run at
--speed 10 idles to zero in its 180 s gap, a 150 s run in its 675 s one."""


def zero_deployment(deployments: Sequence[str], options: DemoOptions) -> str | None:
    """The deployment the demo scales to zero: the last background one (none with real engines or one deployment)."""
    if not options.scale_to_zero or options.engine == "vllm" or len(deployments) < 2:
        return None
    return deployments[-1]


def with_scale_to_zero(stack: StackSpec, deployment: str) -> StackSpec:
    """``stack`` where ``deployment`` may idle to zero (``replicas.min: 0``, the demo's idle window)."""
    d = stack.deployment(deployment)
    replicas = ReplicaRange.model_validate({**d.replicas.model_dump(exclude_none=True), "min": 0,
                                                "initial": max(1, d.replicas.start),
                                                "idle_window": ZERO_IDLE_WINDOW})
    deployments = [x.model_copy(update={"replicas": replicas}) if x.name == deployment else x
                   for x in stack.deployments]
    return stack.model_copy(update={"deployments": deployments})


def _routed(stack: StackSpec, router: str) -> list[str]:
    spec = next(r for r in stack.routers if r.name == router)
    return list(dict.fromkeys(d for route in spec.routes for d in route.backends))


def engine_pids_left(pids: Sequence[int]) -> list[int]:
    """The engine process groups of ``pids`` that still have a live process."""
    return [pid for pid in pids if group_alive(pid)]


def _initial_stack_file(path: Path, spec: Path) -> None:
    atomic_write_text(path, applying.render_stack_file({"config": {"llmstack:spec": str(spec.resolve())}}, {}))


class Demo:
    """One run; :meth:`run` is the whole life cycle (the caller sets :attr:`stop` to end it early)."""

    def __init__(self, options: DemoOptions) -> None:
        if options.speed <= 0 or options.duration_s <= 0:
            raise LlmstackError("--speed and --duration must be > 0")
        self.engine = engines.check_engine(options.engine, options.speed)
        if self.engine == "vllm":
            clip = min(options.max_prompt_tokens or engines.VLLM_MAX_PROMPT_TOKENS, engines.VLLM_MAX_PROMPT_TOKENS)
            options = replace(options, max_prompt_tokens=clip)
        self.options = options
        self.stop = threading.Event()
        self.stack = config.demo_stack(load_spec(options.spec))
        self.policy = load_policy(list(options.policies))
        if not self.stack.routers:
            raise LlmstackError("the stack has no router", path="routers", hint="the demo routes through HAProxy")
        self.router_name = self.stack.routers[0].name
        if self.engine == "vllm":
            first = _stream_specs(self.stack, self.router_name, options)[0].deployment
            self.stack = engines.vllm_stack(self.stack, first)
        to_zero = zero_deployment(_routed(self.stack, self.router_name), options)
        if to_zero is not None:
            self.stack = with_scale_to_zero(self.stack, to_zero)
        self.streams = workload.streams(self.stack, _stream_specs(self.stack, self.router_name, options),
                                        options.duration_s * options.speed, seed=options.seed)
        self.workdir = options.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = config.DemoPorts(free_port(), free_port(), free_port())
        self.group = ProcessGroup()
        self.router = Router(self.workdir, self.ports.router_stats, self.group)
        self.monitoring = Monitoring(self.stack, self.workdir, self.ports, self.group)
        self.stack_file = applying.config_path(self.workdir, STACK_NAME)
        self.view = CapacityView(self.stack)
        self.settings: dict[str, Setting] = {}
        self.timeline = Timeline({s.deployment: self.stack.deployment(s.deployment).replicas.start
                                  for s in self.streams})
        self.clock = SimClock.starting_now(options.speed)
        self.started_wall = time.time()
        self.fleets: dict[str, engines.ReplicaFleet] = {}
        self.reconciler: Reconciler | None = None
        self.traffic: Traffic | None = None
        self.final: dict[str, Any] = {}
        self.errors: list[str] = []

    # ------------------------------------------------------------ life cycle

    def run(self, on_tick: Callable[[Demo], None] | None = None, tick_s: float = 0.5) -> DemoResult:
        interrupted = False
        try:
            self._start()
            threads = [threading.Thread(target=self._guard(self._policy_loop), name="demo-policy", daemon=True),
                       threading.Thread(target=self._guard(self._collect), name="demo-collect", daemon=True)]
            for thread in threads:
                thread.start()
            deadline = self.started_wall + self.options.duration_s
            grace = deadline + max(5.0, self.options.drain_s) + (engines.VLLM_SETTLE_S if self.engine == "vllm" else 0)
            assert self.traffic is not None
            while not self.stop.is_set():
                now = time.time()
                if now >= grace or (now >= deadline and not self.traffic.running() and self._settled()):
                    break
                if on_tick is not None:
                    on_tick(self)
                self.stop.wait(tick_s)
            interrupted = self.stop.is_set()
            self.stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if self.reconciler is not None:
                self.reconciler.wait_drained()  # a scale-in still draining keeps its server in the router
            self._collect_once()
            self._record_final()
        finally:
            self.stop.set()
            self._shutdown()
        return self._result(interrupted)

    def _settled(self) -> bool:
        """Real engines: the run goes on after the load until the fleet is back at its initial size, no change is
        in flight (a CPU engine takes a minute or two to start) and Prometheus scrapes exactly the replicas left,
        at most ``VLLM_SETTLE_S``."""
        if self.engine != "vllm" or self.reconciler is None:
            return True
        replicas = self.reconciler.replicas()
        if self.reconciler.busy or {n: len(p) for n, p in replicas.items()} != dict(self.timeline.initial):
            return False
        scraped = self.monitoring.targets()  # Prometheus has dropped the removed engines too
        return all(set(scraped.get(name, {})) == set(ports) for name, ports in replicas.items())

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # a thread's failure ends the run, reported, not a hang
                if self.stop.is_set() and isinstance(exc, LlmstackError):
                    return  # e.g. an engine still starting when the run ended: stopped by the shutdown
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.stop.set()
        return run

    def _start(self) -> None:
        for s in self.streams:
            d = self.stack.deployment(s.deployment)
            self.fleets[s.deployment] = engines.make_fleet(self.engine, self.stack, s.deployment,
                                                           replicas=d.replicas.start, workdir=self.workdir,
                                                           speed=self.options.speed)
        for fleet in self.fleets.values():
            fleet.start()
        replicas = {name: fleet.ports for name, fleet in self.fleets.items()}
        self.router.start(config.haproxy_config(self.stack, self.router_name, replicas, self.ports,
                                                str(self.router.socket_path), str(self.router.hold_script_path)),
                          f"http://127.0.0.1:{self.ports.router}/healthz")
        self.monitoring.start(replicas)
        for name, ports in replicas.items():
            if self.monitoring.wait_targets(name, set(ports), timeout_s=20) is None:
                raise LlmstackError(f"Prometheus does not scrape the {name} replicas",
                                    hint=self.monitoring.process.log_tail() if self.monitoring.process else None)
        _initial_stack_file(self.stack_file, self.options.spec)
        self.reconciler = Reconciler(self.stack, self.router_name, self.fleets, self.router, self.monitoring,
                                     self.ports, self.stack_file, drain_s=self.options.drain_s,
                                     clock=self.sim_elapsed)
        self.settings = {name: s for name, s in settings_of(self.stack).items() if name in self.fleets}
        self.traffic = Traffic(self.workdir, f"http://127.0.0.1:{self.ports.router}", self.options.speed,
                               self.streams, self.group)
        self.clock = SimClock.starting_now(self.options.speed)
        self.started_wall = self.clock.wall_origin
        self.traffic.start()

    @property
    def engine_pids(self) -> list[int]:
        """Process groups of every real engine started so far (none for simulated replicas)."""
        return [pid for fleet in self.fleets.values() for pid in getattr(fleet, "started_pids", [])]

    def _shutdown(self) -> None:
        if self.reconciler is not None:
            self.reconciler.wait_drained()
        self.group.close()
        for fleet in self.fleets.values():
            fleet.stop()

    # ------------------------------------------------------------ threads

    def sim_elapsed(self) -> float:
        return self.clock.elapsed(time.time())

    def _policy_loop(self) -> None:
        assert self.reconciler is not None
        source = ScaledSource(PrometheusReader(self.monitoring.url, timeout_s=5.0), self.clock, RATE_WINDOW)
        audit = AuditLog(self.workdir / "audit.jsonl")
        state = ScalingState()
        reconciler = self.reconciler
        stack = self.stack.model_copy(update={"deployments": [d for d in self.stack.deployments
                                                             if d.name in self.fleets]})

        def apply(recs: Sequence[Any]) -> None:
            for change in reconciler.apply(recs):
                self.timeline.add_change(change)

        while not self.stop.is_set():
            started = time.time()
            result, state = loop.run_once(source, stack, self.policy, state, self.clock.to_sim(started),
                                          current=self.settings, apply=apply, audit=audit)
            running = reconciler.replicas()
            self.settings = {name: s.with_(replicas=len(running[name])) for name, s in self.settings.items()}
            self.timeline.add_cycle(self.clock.elapsed(started), result, {n: len(p) for n, p in running.items()},
                                    {n: self.view.cost_per_hour(stack.deployment(n), s)
                                     for n, s in self.settings.items()})
            self.stop.wait(max(0.0, self.options.interval_s - (time.time() - started)))

    def _collect_once(self) -> None:
        if self.traffic is not None:
            self.timeline.add_outcomes(self.traffic.poll())
        targets = self.monitoring.targets()
        if targets:
            self.timeline.saw_targets(self.sim_elapsed(), targets)

    def _collect(self) -> None:
        while not self.stop.is_set():
            self._collect_once()
            self.stop.wait(1.0)

    # ------------------------------------------------------------ results

    def replicas(self) -> dict[str, int]:
        if self.reconciler is None:
            return dict(self.timeline.initial)
        return {n: len(p) for n, p in self.reconciler.replicas().items()}

    def _record_final(self) -> None:
        assert self.reconciler is not None
        file_sd: dict[str, list[int]] = {}
        for name in self.fleets:
            entries = json.loads((self.workdir / config.file_sd_name(name)).read_text(encoding="utf-8"))
            file_sd[name] = sorted(int(t.rpartition(":")[2]) for e in entries for t in e["targets"])
        self.final = {
            "replicas": {n: sorted(p) for n, p in self.reconciler.replicas().items()},
            "router_servers": self._router_servers(),
            "file_sd": file_sd,
            "prometheus_targets": {d: sorted(p) for d, p in self.monitoring.targets().items()},
            "scaling": applying.current_overrides(self.stack_file),
        }

    def _router_servers(self) -> dict[str, list[str]]:
        """backend -> servers as the running router lists them; a deployment at zero replicas has an empty
        backend, which HAProxy's stats leave out, so every deployment's backend is named."""
        listed = self.router.servers()
        out = {backend_name(n): sorted(listed.get(backend_name(n), set())) for n in self.fleets}
        out.update({b: sorted(s) for b, s in listed.items()})
        return out

    def _result(self, interrupted: bool) -> DemoResult:
        timeline = self.timeline.snapshot()
        end_s = self.sim_elapsed()
        rows = report.summarize(self.stack, timeline, self.options.speed, end_s)
        plot_path: Path | None = None
        if self.options.plot is not None and timeline.points and report.can_plot():
            plot_path = report.plot(self.stack, timeline, self.options.plot)
        pids = self.group.pids()
        summary: dict[str, Any] = {
            "engine": self.engine, "engine_detail": engines.describe(self.engine),
            "engine_pids_left": engine_pids_left(self.engine_pids),
            "spec": str(self.options.spec), "workdir": str(self.workdir), "speed": self.options.speed,
            "duration_s": self.options.duration_s, "simulated_s": round(end_s, 1), "interrupted": interrupted,
            "policy_files": [str(p) for p in self.options.policies],
            "policy_note": DEMO_POLICY_NOTE if any(p.name == "demo.yaml" for p in self.options.policies) else None,
            "rate_window_wall": RATE_WINDOW, "policy_interval_s": self.options.interval_s,
            "load": [{"deployment": s.deployment, "model": s.model, "trace": s.trace, "base_rate": s.base_rate,
                      "burst": s.burst, "max_prompt_tokens": s.max_prompt_tokens,
                      "requests_planned": len(s.requests)} for s in self.streams],
            "deployments": [r.to_json() for r in rows], "totals": dict(report.totals(rows)),
            "changes": [c.to_json() for c in timeline.changes], "decisions": report.decisions_json(timeline),
            "policy_cycles": timeline.cycles,
            "prometheus": {"url": self.monitoring.url, "targets_followed": report.targets_followed(timeline),
                           "ports_seen": {d: sorted(p) for d, p in timeline.targets.items()}},
            "router": {"config": str(self.router.config_path), "reloads": self.router.reloads},
            "final": self.final, "stack_file": str(self.stack_file), "audit_log": str(self.workdir / "audit.jsonl"),
            "plot": None if plot_path is None else str(plot_path), "pids": pids, "errors": list(self.errors),
        }
        return DemoResult(summary, rows, interrupted, plot_path, pids)


def run_demo(options: DemoOptions, on_tick: Callable[[Demo], None] | None = None,
             demo: Demo | None = None) -> DemoResult:
    """Run the demo to the end (or until ``demo.stop`` is set) and return its summary."""
    return (demo or Demo(options)).run(on_tick)
