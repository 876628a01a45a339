"""A fleet of simulated replicas behind a balancer, resized by an autoscaler while a trace replays.

One global event loop in time order: trace arrivals, step ends of each replica (a heap; each
replica has at most one pending step or decode run, see :mod:`llmstack.sim.engine`), replicas
becoming ready after their start-up delay, and a scrape tick every ``interval_s`` at which the
signal snapshot (:mod:`llmstack.sim.protocol`) is computed and the autoscaler asked for a
replica count. New replicas start after ``startup_delay_s`` (model load); on scale-in, starting
replicas are cancelled first, then up replicas stop receiving requests and drain (graceful drain:
they finish every request they hold), stopping when empty. GPU-seconds count from a replica's
request to its stop, so a draining replica is paid for until its last request is done.

Requests longer than the model's context (``prompt + output > max_model_len``, or more than the
KV cache holds) are rejected as vLLM does, and counted in :attr:`SimResult.rejected_over_context`.
Requests that arrive while no replica is up are held at the router (FIFO, arrival time unchanged,
so their TTFT includes the hold; the router's hold action, :mod:`llmstack.artifacts.haproxy_hold`)
and dispatched when a replica becomes ready; one held longer than the hold timeout is dropped
(never served, an SLO miss), as the router answers 503 when its hold runs out. The same queue holds
what arrives while every up replica already has ``max_num_seqs`` requests (the router's per-server
``maxconn``, :func:`llmstack.artifacts.haproxy.build_haproxy_config`, with round-robin and
least-request balancing): a replica that frees a slot, or a new one that becomes ready, takes the
oldest waiting request, so added capacity serves the backlog at once instead of requests staying
queued on the replicas that were up when they arrived; the queue's ``timeout queue`` is the hold
timeout. Scale-to-zero
(``replicas.min: 0``): a start while no replica is up or starting is a cold start
(:attr:`SimResult.cold_starts`). The snapshot carries the
router's signals even with no replica up (``router_queue_length``, ``router_request_rate``), the
wake signal of a deployment at zero. The engines' TTFT and e2e histograms leave the hold out, as
vLLM measures from the moment it receives a request.

Vertical and variant moves (:mod:`llmstack.sim.moves`): when the autoscaler answers a new shape
(variant, pool, TP), new replicas get that shape's engine (its step times, KV cache, start-up) and
roll out as the deployment's update strategy does; old replicas keep serving until replaced, then
drain. The count the autoscaler is asked about is the deployment's desired size, whichever shapes
serve it meanwhile.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmstack.capacity import throughput
from llmstack.capacity.startup import HOLD_TIMEOUT_FACTOR
from llmstack.capacity.throughput import EngineProfile
from llmstack.errors import LlmstackError
from llmstack.sim import balancing
from llmstack.sim.engine import Engine, SimRequest
from llmstack.sim.moves import Move, Rollout, ShapeModel, shape_model
from llmstack.sim.protocol import Autoscaler, histogram_quantile, vllm_buckets
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, PoolSpec, StackSpec
from llmstack.spec.resolving import resolve
from llmstack.spec.scaling import Shape, ShapeChange

Balancer = Literal["round_robin", "least_request", "session_affinity", "prefix_hash"]
"""Every strategy a router can declare (``RouterStrategy``); the hash ones are in :mod:`.balancing`."""
ReplicaState = Literal["starting", "up", "draining", "stopped"]

_STEP, _READY, _EXPIRE = 0, 1, 2


@dataclass(frozen=True)
class FleetConfig:
    balancer: Balancer = "least_request"
    hash_balance_factor: float = 1.5
    """prefix_hash: a replica over this multiple of the average in-flight load is passed over (router default)."""
    startup_delay_s: float = 120.0
    interval_s: float = 15.0
    window_s: float = 60.0
    initial_replicas: int | None = None
    """Replicas up at t=0 (default: the autoscaler's ``initial_replicas`` or the deployment's ``replicas.start``)."""
    prefix_caching: bool | None = None
    """Default: the deployment's ``engine.enable_prefix_caching`` (hits need Mooncake ``hash_ids``)."""
    max_drain_s: float = 3600.0
    """Give up this long after the last arrival if requests still wait with no replica to serve them."""
    hold_timeout_s: float | None = None
    router_queue: bool = True
    """The router sends each replica at most ``max_num_seqs`` requests and queues the rest (HAProxy
    ``maxconn``; round-robin and least-request only, a hash strategy queues on the hashed replica);
    False: every request goes to a replica at once and waits in its engine."""
    """How long the router holds a request while no replica is up before dropping it (default: the
    deployment's ``replicas.hold_timeout``, else 1.5x ``startup_delay_s``, as capacity.startup sizes it)."""


class Replica:
    """One simulated engine and its lifecycle."""

    __slots__ = ("busy_history", "drain_s", "end", "engine", "index", "ready_s", "requested_s", "shape", "state",
                 "stopped_s", "version")

    def __init__(self, index: int, engine: Engine, requested_s: float, ready_s: float, shape: ShapeModel) -> None:
        self.index = index
        self.engine = engine
        self.shape = shape
        self.requested_s = requested_s
        self.ready_s = ready_s
        self.stopped_s: float | None = None
        self.drain_s: float | None = None
        """When the replica stopped taking requests (scale-in); it stops once its requests are done."""
        self.state: ReplicaState = "starting"
        self.version = 0
        self.end: float | None = None
        self.busy_history: deque[tuple[float, float]] = deque()

    def busy_at(self, t: float) -> float:
        plan = self.engine.plan
        partial = max(0.0, t - plan.start) if plan is not None else 0.0
        return self.engine.busy_s + partial

    def gpu_seconds(self, end_s: float) -> float:
        return max(0.0, (self.stopped_s if self.stopped_s is not None else end_s) - self.requested_s)


@dataclass(frozen=True)
class TimelinePoint:
    t: float
    arrival_rate: float
    replicas_up: int
    replicas_total: int
    desired: int
    signals: Mapping[str, float]


@dataclass(frozen=True)
class ScaleEvent:
    t: float
    before: int
    after: int


@dataclass
class SimResult:
    """Everything a run produced; :mod:`llmstack.sim.scoring` turns it into a score."""

    deployment: DeploymentSpec
    autoscaler: str
    trace_name: str
    profile: EngineProfile
    requests: list[SimRequest]
    rejected_over_context: int
    skipped_rows: int
    timeline: list[TimelinePoint]
    scale_events: list[ScaleEvent]
    replica_gpu_seconds: list[float]
    gpus_per_replica: int
    pool: PoolSpec
    end_s: float
    preemptions: int
    replica_shapes: list[Shape]
    """Per replica: the shape it ran as."""
    shapes: Mapping[Shape, ShapeModel]
    """Every shape the run used (the declared one first), with its GPUs per replica and pool."""
    moves: list[Move]
    """Vertical and variant moves, in order."""
    config: FleetConfig = field(default_factory=FleetConfig)
    held_s: Mapping[int, float] = field(default_factory=dict)
    """Request id -> seconds it was held at the router before a replica took it (held requests only)."""
    dropped: int = 0
    """Requests held past the hold timeout: never served."""
    cold_starts: int = 0
    """Replica starts while no replica was up or starting (a start from zero)."""
    hold_timeout_s: float = math.inf
    replica_drain_seconds: list[float] = field(default_factory=list)
    """Per replica: seconds from scale-in (no new requests) to its stop (0: never drained)."""

    @property
    def drain_gpu_hours(self) -> float:
        """GPU-hours replicas spent finishing their requests after a scale-in (the price of graceful drain)."""
        return sum(seconds * self.shapes[shape].gpus_per_replica
                   for seconds, shape in zip(self.replica_drain_seconds, self.replica_shapes, strict=True)) / 3600.0

    @property
    def finished(self) -> list[SimRequest]:
        return [r for r in self.requests if r.finish_s is not None]

    @property
    def gpu_hours_by_shape(self) -> dict[Shape, float]:
        """GPU-hours per shape: each replica's seconds times its shape's GPUs (TP x PP)."""
        hours = dict.fromkeys(self.shapes, 0.0)
        for seconds, shape in zip(self.replica_gpu_seconds, self.replica_shapes, strict=True):
            hours[shape] += seconds * self.shapes[shape].gpus_per_replica / 3600.0
        return hours

    @property
    def gpu_hours(self) -> float:
        return sum(self.gpu_hours_by_shape.values())

    @property
    def cost(self) -> float:
        """Dollars of the run: each shape's GPU-hours at its pool's price."""
        return sum(self.shapes[shape].pool.cost_per_hour(hours) for shape, hours in self.gpu_hours_by_shape.items())


class _Window:
    """Observations with timestamps, trimmed to the last ``window_s``."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.items: deque[tuple[float, float]] = deque()

    def add(self, t: float, value: float) -> None:
        self.items.append((t, value))

    def values(self, now: float) -> list[float]:
        cutoff = now - self.window_s
        while self.items and self.items[0][0] <= cutoff:
            self.items.popleft()
        return [v for _, v in self.items]


class Fleet:
    """The simulation state of one deployment's fleet; :func:`simulate` runs it over a trace."""

    def __init__(self, stack: StackSpec, deployment: str | DeploymentSpec, autoscaler: Autoscaler,
                 config: FleetConfig | None = None) -> None:
        spec = stack.deployment(deployment) if isinstance(deployment, str) else deployment
        self.stack = stack
        self.spec = spec
        self.resolved = resolve(stack, spec)
        self.profile = throughput.profile(self.resolved)
        self.autoscaler = autoscaler
        self.config = config or FleetConfig()
        declared = ShapeModel(Shape(spec.variant, spec.pool, spec.tensor_parallel), self.profile,
                              spec.gpus_per_replica, self.resolved.pool, self.config.startup_delay_s)
        self.shape = declared
        """The shape new replicas get (the declared one until a move)."""
        self.shapes: dict[Shape, ShapeModel] = {declared.shape: declared}
        self.moves: list[Move] = []
        self._replacing: list[tuple[Move, set[int]]] = []
        """Per move: the replicas of other shapes it found, until each has stopped (then the move is done)."""
        self.rollout = Rollout.of(spec)
        self.prefix_caching = (spec.engine.enable_prefix_caching if self.config.prefix_caching is None
                               else self.config.prefix_caching)
        self.replicas: list[Replica] = []
        self.heap: list[tuple[float, int, int, int, int]] = []
        self._order = 0
        self._rr = 0
        self.backlog: deque[SimRequest] = deque()
        """The router's hold queue (FIFO) while no replica is up."""
        self.hold_timeout_s = self._hold_timeout()
        self.held_s: dict[int, float] = {}
        self.dropped = 0
        self.cold_starts = 0
        self.arrivals = 0
        self.timeline: list[TimelinePoint] = []
        self.scale_events: list[ScaleEvent] = []
        self.desired = 0
        w = self.config.window_s
        self.ttft_window = _Window(w)
        self.tpot_window = _Window(w)
        self.e2e_window = _Window(w)
        self.arrivals_since_tick = 0
        self.successes = 0
        self.counter_history: deque[tuple[float, float, float, float, float, float]] = deque(
            [(0.0, 0, 0, 0, 0, 0)])
        self.ttft_buckets = vllm_buckets("vllm:time_to_first_token_seconds")
        self.tpot_buckets = vllm_buckets("vllm:request_time_per_output_token_seconds")
        self.e2e_buckets = vllm_buckets("vllm:e2e_request_latency_seconds")

    def _hold_timeout(self) -> float:
        if self.config.hold_timeout_s is not None:
            return self.config.hold_timeout_s
        if self.spec.replicas.hold_timeout is not None:
            return self.spec.replicas.hold_timeout
        return HOLD_TIMEOUT_FACTOR * self.config.startup_delay_s

    # ------------------------------------------------------------ replicas

    def _push(self, t: float, kind: int, replica: Replica) -> None:
        self._order += 1
        heapq.heappush(self.heap, (t, self._order, kind, replica.index, replica.version))

    def add_replica(self, now: float, *, ready: bool = False) -> Replica:
        shape = self.shape
        engine = Engine(shape.profile, prefix_caching=self.prefix_caching)
        delay = 0.0 if ready else shape.startup_s
        replica = Replica(len(self.replicas), engine, now, now + delay, shape)
        self.replicas.append(replica)
        if delay <= 0:
            self._ready(replica, now)
        else:
            self._push(now + delay, _READY, replica)
        return replica

    def _ready(self, replica: Replica, now: float) -> None:
        if replica.state != "starting":
            return
        replica.state = "up"
        replica.busy_history.append((now, replica.busy_at(now)))
        self._dispatch_backlog(now)
        if replica.shape is self.shape and self._old_serving():
            self._roll(now)

    def _expire(self, now: float) -> None:
        """Drop the held requests whose hold timeout has passed (the queue is in arrival order)."""
        while self.backlog and self.backlog[0].arrival_s + self.hold_timeout_s <= now + 1e-9:
            self.backlog.popleft()
            self.dropped += 1

    def _stop(self, replica: Replica, now: float) -> None:
        replica.state = "stopped"
        replica.stopped_s = now
        for move, replaced in self._replacing:
            replaced.discard(replica.index)
            if not replaced and move.done_s is None:
                move.done_s = now

    def _drain(self, replica: Replica, now: float) -> None:
        """Stop sending ``replica`` requests; it stops once it has finished the ones it holds."""
        replica.state = "draining"
        replica.drain_s = now
        if not replica.engine.has_work and not replica.engine.busy:
            self._stop(replica, now)

    def active(self) -> list[Replica]:
        """Replicas of the current shape counted as the deployment's size: starting or up (not draining)."""
        return [r for r in self.replicas if r.state in ("starting", "up") and r.shape is self.shape]

    def _old_serving(self) -> list[Replica]:
        """Replicas of an earlier shape still taking requests (a move rolling out)."""
        return [r for r in self.replicas if r.state == "up" and r.shape is not self.shape]

    def scale_to(self, target: int, now: float) -> None:
        """Start or stop replicas of the current shape until ``target`` are starting or up."""
        current = self.active()
        if target > len(current):
            if not any(r.state in ("starting", "up") for r in self.replicas):  # a start from zero
                self.cold_starts += 1
            for _ in range(target - len(current)):
                self.add_replica(now)
        elif target < len(current):
            remove = len(current) - target
            starting = [r for r in current if r.state == "starting"][::-1]
            up = sorted((r for r in current if r.state == "up"), key=lambda r: (r.engine.in_flight, -r.index))
            for replica in (starting + up)[:remove]:
                if replica.state == "starting":
                    self._stop(replica, now)
                else:
                    self._drain(replica, now)

    def _roll(self, now: float) -> None:
        """Toward ``desired`` replicas of the current shape: old-shape replicas drain as new ones become ready."""
        while True:
            old = self._old_serving()
            if not old:
                self.scale_to(self.desired, now)
                return
            new_up = sum(1 for r in self.active() if r.state == "up")
            new_target, drain = self.rollout.step(self.desired, len(old), new_up)
            self.scale_to(new_target, now)
            if drain == 0:
                return
            for replica in sorted(old, key=lambda r: (r.engine.in_flight, -r.index))[:drain]:
                self._drain(replica, now)

    def move_to(self, change: ShapeChange, now: float) -> None:
        """New replicas get ``change.shape``; replicas of other shapes still starting are cancelled."""
        if change.shape not in self.shapes:
            self.shapes[change.shape] = shape_model(self.stack, self.spec, change.shape)
        move = Move.of(now, self.shape.shape, change)
        self.moves.append(move)
        self.shape = self.shapes[change.shape]
        replaced = {r.index for r in self.replicas if r.state != "stopped" and r.shape is not self.shape}
        self._replacing.append((move, replaced))
        for replica in self.replicas:
            if replica.state == "starting" and replica.shape is not self.shape:
                self._stop(replica, now)
        if not replaced:
            move.done_s = now

    # ------------------------------------------------------------ requests

    def _pick(self, request: SimRequest) -> Replica | None:
        """The replica ``request`` goes to now; None: it waits at the router (none up, or all full)."""
        up = [r for r in self.replicas if r.state == "up"]
        if not up:
            return None
        if self.config.balancer in ("session_affinity", "prefix_hash"):
            return self._hash_pick(request, up)
        queue = self.config.router_queue
        start = self._rr % len(up)
        self._rr += 1
        if self.config.balancer == "round_robin":
            return next((r for r in (up[(start + i) % len(up)] for i in range(len(up)))
                         if not queue or r.engine.in_flight < r.shape.profile.max_num_seqs), None)
        best = up[start]
        best_load = best.engine.in_flight
        for i in range(len(up)):
            r = up[(start + i) % len(up)]
            load = r.engine.in_flight
            if load < best_load:
                best, best_load = r, load
                if load == 0:
                    break
        return best if not queue or best_load < best.shape.profile.max_num_seqs else None

    def _dispatch_backlog(self, now: float) -> None:
        """Hand the router's oldest waiting requests to replicas with a free slot, in arrival order."""
        while self.backlog:
            target = self._pick(self.backlog[0])
            if target is None:
                return
            request = self.backlog.popleft()
            self.held_s[request.id] = now - request.arrival_s
            self._assign(request, target, now)

    def _hash_pick(self, request: SimRequest, up: list[Replica]) -> Replica:
        prefix = self.config.balancer == "prefix_hash"
        key = request.hash_ids[0] if prefix and request.hash_ids else request.id
        factor = self.config.hash_balance_factor if prefix else None
        loads = [r.engine.in_flight for r in up]
        return up[balancing.pick(key, [r.index for r in up], loads, factor)]

    def _assign(self, request: SimRequest, replica: Replica, now: float) -> None:
        request.replica = replica.index
        end = replica.engine.admit(request, now)
        if end != replica.end:  # a new step, or the run in progress cut short: its end event replaces the old
            replica.version += 1
            replica.end = end
            if end is not None:
                self._push(end, _STEP, replica)

    def _start(self, replica: Replica, now: float) -> None:
        end = replica.engine.start(now)
        replica.version += 1
        replica.end = end
        if end is not None:
            self._push(end, _STEP, replica)

    def _step_done(self, replica: Replica, now: float) -> None:
        engine = replica.engine
        firsts = [r for r, _ in engine.plan.chunks] if engine.plan is not None else []
        finished = engine.complete()
        delivered = now + engine.api_server_s  # when the API server hands this step's tokens to clients
        held = self.held_s
        for r in firsts:
            if r.first_token_s == delivered:  # set by this step (a recompute keeps its first token time)
                self.ttft_window.add(now, r.ttft_s - held.get(r.id, 0.0))
        for r in finished:
            self.successes += 1
            self.tpot_window.add(now, r.tpot_s)
            self.e2e_window.add(now, delivered - r.arrival_s - held.get(r.id, 0.0))
        self._start(replica, now)
        if finished and self.backlog:
            self._dispatch_backlog(now)
        if replica.state == "draining" and replica.end is None and not engine.has_work:
            self._stop(replica, now)

    # ------------------------------------------------------------ signals

    def signals(self, now: float) -> dict[str, float]:
        """The signal snapshot at ``now`` (see :mod:`llmstack.sim.protocol`)."""
        up = [r for r in self.replicas if r.state in ("up", "draining")]
        gen = prompt = preempt = 0.0
        for r in self.replicas:
            gen += r.engine.generation_tokens
            prompt += r.engine.prompt_tokens
            preempt += r.engine.preemptions
        history = self.counter_history
        history.append((now, float(self.successes), gen, prompt, preempt, float(self.arrivals)))
        while len(history) > 2 and history[1][0] <= now - self.config.window_s + 1e-9:
            history.popleft()
        old, previous = history[0], history[-2]
        span = max(1e-9, now - old[0])
        result: dict[str, float] = {
            "replicas_up": float(len(up)),
            "router_queue_length": float(len(self.backlog)),
            "router_request_rate": (self.arrivals - old[5]) / span,
            "router_request_irate": (self.arrivals - previous[5]) / max(1e-9, now - previous[0]),
        }
        if not up:
            return result
        engines = [r.engine for r in up]
        result.update(
            request_rate=(self.successes - old[1]) / span,
            queue_length=float(sum(len(e.waiting) for e in engines)),
            running_requests=float(sum(len(e.running) for e in engines)),
            kv_cache_usage=sum(e.kv_usage for e in engines) / len(engines),
            kv_cache_usage_max=max(e.kv_usage for e in engines),
            ttft_p50=histogram_quantile(0.5, self.ttft_buckets, self.ttft_window.values(now)),
            ttft_p95=histogram_quantile(0.95, self.ttft_buckets, self.ttft_window.values(now)),
            tpot_p95=histogram_quantile(0.95, self.tpot_buckets, self.tpot_window.values(now)),
            e2e_latency_p95=histogram_quantile(0.95, self.e2e_buckets, self.e2e_window.values(now)),
            generation_tokens_rate=(gen - old[2]) / span,
            prompt_tokens_rate=(prompt - old[3]) / span,
            preemption_rate=(preempt - old[4]) / span,
            gpu_utilization=sum(self._utilization(r, now) for r in up) / len(up),
            gpu_memory_used=self.spec.engine.gpu_memory_utilization,
        )
        return result

    def _utilization(self, replica: Replica, now: float) -> float:
        busy = replica.busy_at(now)
        history = replica.busy_history
        history.append((now, busy))
        while len(history) > 2 and history[1][0] <= now - self.config.window_s + 1e-9:
            history.popleft()
        t0, b0 = history[0]
        return min(1.0, (busy - b0) / (now - t0)) if now > t0 else 0.0

    # ------------------------------------------------------------ the loop

    def run(self, trace: Trace, progress: Callable[[int, int], None] | None = None) -> SimResult:
        """Replay ``trace``: admit what fits the context, start the first replicas, run events to the end."""
        requests, rejected = self._admit(trace)
        self._start_fleet()
        now = self._events(requests, progress)
        if progress is not None:
            progress(len(requests), len(requests))
        return self._result(trace, requests, rejected, now)

    def _admit(self, trace: Trace) -> tuple[list[SimRequest], int]:
        """The trace's requests that fit the context and the KV cache, and how many did not (rejected)."""
        limit = min(self.profile.max_model_len, self.profile.kv_cache_tokens)
        requests: list[SimRequest] = []
        rejected = 0
        for i, tr in enumerate(trace.requests):
            if tr.prompt_tokens + tr.output_tokens > limit:
                rejected += 1
                continue
            requests.append(SimRequest(i, tr.arrival_s, tr.prompt_tokens, tr.output_tokens, tr.hash_ids))
        return requests, rejected

    def _start_fleet(self) -> None:
        """Replicas up at t=0: the configuration's count, else the autoscaler's, else ``replicas.start``."""
        initial = self.config.initial_replicas
        if initial is None:
            initial = self.autoscaler.initial_replicas()
        if initial is None:
            initial = self.spec.replicas.start
        initial = self._clamp(initial)
        for _ in range(initial):
            self.add_replica(0.0, ready=True)
        self.desired = initial

    def _events(self, requests: list[SimRequest], progress: Callable[[int, int], None] | None) -> float:
        """The event loop: replica events, arrivals and autoscaler ticks in time order; the time it ended."""
        cfg = self.config
        total = len(requests)
        last_arrival = requests[-1].arrival_s if requests else 0.0
        next_tick = cfg.interval_s
        i = 0
        now = 0.0
        heap = self.heap
        replicas = self.replicas
        report_every = max(1, total // 200)
        while True:
            t_arr = requests[i].arrival_s if i < total else math.inf
            t_ev = heap[0][0] if heap else math.inf
            if i >= total and not heap and not self.backlog:
                break
            if i >= total and not heap and self.backlog and now > last_arrival + cfg.max_drain_s:
                break
            if t_ev <= t_arr and t_ev <= next_tick:
                now, _, kind, index, version = heapq.heappop(heap)
                if kind == _EXPIRE:
                    self._expire(now)
                    continue
                replica = replicas[index]
                if kind == _READY:
                    self._ready(replica, now)
                elif version == replica.version and replica.state != "stopped":
                    self._step_done(replica, now)
            elif t_arr <= next_tick:
                now = t_arr
                self._arrive(requests[i], now)
                i += 1
                if progress is not None and i % report_every == 0:
                    progress(i, total)
            else:
                now = next_tick
                self._tick(now)
                next_tick += cfg.interval_s
        return now

    def _arrive(self, request: SimRequest, now: float) -> None:
        self.arrivals_since_tick += 1
        self.arrivals += 1
        target = self._pick(request)
        if target is None:
            self.backlog.append(request)
            self._order += 1
            heapq.heappush(self.heap, (now + self.hold_timeout_s, self._order, _EXPIRE, -1, 0))
        else:
            self._assign(request, target, now)

    def _result(self, trace: Trace, requests: list[SimRequest], rejected: int, now: float) -> SimResult:
        end = max(now, requests[-1].arrival_s if requests else 0.0)
        return SimResult(
            deployment=self.spec, autoscaler=self.autoscaler.name, trace_name=trace.name, profile=self.profile,
            requests=requests, rejected_over_context=rejected, skipped_rows=trace.skipped_rows,
            timeline=self.timeline, scale_events=self.scale_events,
            replica_gpu_seconds=[r.gpu_seconds(end) for r in self.replicas],
            replica_shapes=[r.shape.shape for r in self.replicas], shapes=dict(self.shapes), moves=list(self.moves),
            gpus_per_replica=self.spec.gpus_per_replica, pool=self.resolved.pool,
            end_s=end, preemptions=sum(r.engine.preemptions for r in self.replicas), config=self.config,
            held_s=dict(self.held_s), dropped=self.dropped, cold_starts=self.cold_starts,
            hold_timeout_s=self.hold_timeout_s,
            replica_drain_seconds=[(r.stopped_s if r.stopped_s is not None else end) - r.drain_s
                                   if r.drain_s is not None else 0.0 for r in self.replicas],
        )

    def _clamp(self, n: int) -> int:
        if not self.autoscaler.respect_limits:
            return max(0, int(n))
        return max(self.spec.replicas.min, min(self.spec.replicas.max, int(n)))

    def _tick(self, now: float) -> None:
        for replica in self.replicas:
            if replica.engine.busy:
                replica.engine.advance_to(now)
        signals = self.signals(now)
        current = self.desired
        wanted = self.autoscaler.desired_replicas(now, signals, current)
        change = self.autoscaler.desired_shape(now, self.shape.shape)
        if change is not None and change.shape != self.shape.shape:
            self.move_to(change, now)
        target = self._clamp(wanted)
        if target != current:
            self.scale_events.append(ScaleEvent(now, current, target))
        self.desired = target
        self._roll(now)
        up = sum(1 for r in self.replicas if r.state == "up")
        total = sum(1 for r in self.replicas if r.state in ("starting", "up"))
        self.timeline.append(TimelinePoint(now, self.arrivals_since_tick / self.config.interval_s, up,
                                           total, target, signals))
        self.arrivals_since_tick = 0


def simulate(stack: StackSpec, deployment: str, trace: Trace, autoscaler: Autoscaler,
             config: FleetConfig | None = None, progress: Callable[[int, int], None] | None = None) -> SimResult:
    """Replay ``trace`` through ``deployment``'s fleet under ``autoscaler``."""
    if not trace.requests:
        raise LlmstackError("trace has no requests", path="--trace")
    return Fleet(stack, deployment, autoscaler, config).run(trace, progress)
