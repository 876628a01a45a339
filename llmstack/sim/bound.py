"""A lower bound on the GPU-hours of any schedule that reaches an SLO attainment on a trace, over every shape.

The oracle (:mod:`llmstack.sim.oracle`) is the cheapest schedule a search found that meets the
target: an upper estimate of the true minimum. This module gives the other side, a number no
schedule of the simulated fleet beats, whatever replica counts it runs and whichever shapes it
moves between (:mod:`llmstack.sim.moves`: every shape of :func:`llmstack.capacity.planning.shapes`
over the stack's pools and the model's variants that the capacity model lets run), and why.

1. **Work per request** (:mod:`llmstack.sim.bound_floors`): for each weight ``lam`` in [0, 1], a
   request served on a replica of shape ``s`` costs at least ``v_s(lam)`` GPU-seconds of that replica's
   busy time (compute, memory and fixed floors of every step it is in, x the shape's GPUs), so at
   least ``v(lam) = min over shapes v_s(lam)`` whichever shape served it (a request runs on one replica).
2. **Where the work lies.** A request within the SLO runs from its arrival to at most
   ``TTFT SLO + TPOT SLO x (output - 1) - API server time`` later (the engine's steps start after the
   request reaches it and the last ends before its last token is sent). Cut time into blocks: the
   replicas serving (up or draining) in a block spend busy GPU-seconds of at least the ``v`` of the
   in-SLO requests whose whole window lies in it; requests straddling a boundary count 0.
3. **Min replicas.** From t=0 to the last arrival (where the run ends at the earliest) at least
   ``replicas.min`` replicas are up: the fleet clamps its size and cancels starting replicas before
   it drains up ones, and a ``RollingUpdate`` move drains an old replica only once a new one is up.
   Each has at least the fewest GPUs of any shape. So a block's serving GPU-seconds are at least
   ``max(min GPUs x its length, work in it)``.
4. **Which requests.** Reaching attainment ``A`` of ``N`` requests needs ``ceil(A N)`` within the SLO
   (over-context rejections never are). For a fixed ``lam`` each block's cost is convex in how
   many of its requests it serves (the cheapest first), so serving the ``ceil(A N)`` requests of the
   smallest marginal costs across blocks is the least any choice of requests costs.
5. **Start-up.** A block of length ``T`` whose served work is ``W`` GPU-seconds has at some instant at
   least ``ceil(W / T)`` GPUs serving; the fewest the choice of requests allows (least over the same
   choices, bisected), less the GPUs up at t=0, were started later, each after at least the
   shortest start-up of any shape, time in which it serves nothing. Under ``Recreate`` the min
   replicas may be starting, so then the bound is ``max(step 3's sum, work + start-up)``.

Summed: GPU-seconds of serving plus starting, so GPU-hours (TP x PP GPUs per replica, not dollars:
a shape cheaper per dollar can cost more GPU-hours), below which no schedule reaches the attainment.
What it assumes: the simulated fleet (:mod:`llmstack.sim.fleet`; engine steps of the capacity
model's step time, a request served on one replica, preemptions by recompute), an autoscaler that
keeps the deployment's replica range (``respect_limits``), moves only to shapes
:func:`~llmstack.sim.moves.shape_model` accepts, and attainment as :mod:`llmstack.sim.scoring`
counts it. Not assumed: any particular replica schedule, move time, router or batching.

Every ``lam`` and every block grid of :data:`GRIDS` gives such a bound; the largest is kept. With
``over="declared"`` only the declared shape is considered (the bound for schedules that never
move); the candidates' bound is never above it (a minimum over more shapes, fewer GPUs, shorter
start-ups, the same grids and weights). Loose where latency, not work, sets the fleet (replicas
idle between requests to keep queues short), and because one ``lam`` per grid lets prefill compute
and decode memory overlap perfectly, which chunked prefill under a TPOT SLO cannot: the
oracle/bound gap shows how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from llmstack.capacity import planning, throughput
from llmstack.errors import LlmstackError
from llmstack.sim.bound_floors import LAMBDAS, ShapeFloor, cached_prefix, gpu_seconds, request_facts
from llmstack.sim.moves import ShapeModel, shape_model
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, StackSpec
from llmstack.spec.resolving import resolve
from llmstack.spec.scaling import Shape

GRIDS = ((60.0, 0.0), (60.0, 30.0), (30.0, 0.0), (30.0, 15.0), (120.0, 0.0), (300.0, 0.0), (math.inf, 0.0))
"""(block length s, offset s) of the block grids tried; ``inf``: the whole run as one block."""
Over = Literal["candidates", "declared"]


@dataclass(frozen=True)
class Bound:
    gpu_hours: float
    attainment: float
    serving_gpu_s: float
    """GPU-seconds of replicas serving (steps 1-4) in the grid that gave the bound."""
    startup_gpu_s: float
    peak_gpus: int
    block_s: float
    lam: float
    shapes: int
    """Shapes the bound ranges over."""


def candidate_shapes(stack: StackSpec, deployment: DeploymentSpec, startup_delay_s: float,
                     over: Over = "candidates") -> list[ShapeModel]:
    """Every shape the fleet can run: the declared one first (start-up ``startup_delay_s``, as the fleet
    configures it) and, unless ``over="declared"``, every other planner shape :func:`shape_model` accepts."""
    resolved = resolve(stack, deployment)
    declared = ShapeModel(Shape(deployment.variant, deployment.pool, deployment.tensor_parallel),
                          throughput.profile(resolved), deployment.gpus_per_replica, resolved.pool, startup_delay_s)
    models = [declared]
    if over == "declared":
        return models
    for shape in planning.shapes(stack, deployment):
        if shape == declared.shape:
            continue
        try:
            models.append(shape_model(stack, deployment, shape))
        except LlmstackError:
            continue  # the fleet refuses this move as well
    return models


@dataclass(frozen=True)
class _Problem:
    """What every grid shares: request windows and costs, who must be served, the fleet's floors."""

    start: np.ndarray
    end: np.ndarray
    costs: np.ndarray
    """(len(LAMBDAS), requests): GPU-seconds per request at each weight."""
    servable: np.ndarray
    must: int
    min_gpus: float
    """GPUs up at all times (replicas.min x the fewest GPUs of any shape)."""
    run_end_s: float


@dataclass(frozen=True)
class _GridResult:
    serving: float
    work: float
    """Serving GPU-seconds without the min-replica floor (step 3 left out)."""
    peak_gpus: int


def lower_bound(stack: StackSpec, deployment: DeploymentSpec, trace: Trace, attainment: float, *,
                startup_delay_s: float, initial_replicas: int, prefix_caching: bool | None = None,
                over: Over = "candidates") -> Bound:
    """GPU-hours below which no schedule reaches ``attainment`` on ``trace`` (see the module docstring)."""
    floors = [ShapeFloor.of(m) for m in candidate_shapes(stack, deployment, startup_delay_s, over)]
    problem = _problem(stack, deployment, trace, attainment, floors, prefix_caching)
    initial_gpus = initial_replicas * deployment.gpus_per_replica
    startup_s = min(f.startup_s for f in floors)
    best: Bound | None = None
    for block, offset in GRIDS:
        for k, lam in enumerate(LAMBDAS):
            r = _grid(problem, problem.costs[k], block, offset)
            startup = max(0, r.peak_gpus - initial_gpus) * startup_s
            total = r.serving + startup
            if deployment.update_strategy == "Recreate":
                total = max(r.serving, r.work + startup)
            if best is None or total / 3600 > best.gpu_hours:
                best = Bound(total / 3600, attainment, r.serving, startup, r.peak_gpus, block, lam, len(floors))
    assert best is not None
    return best


def _problem(stack: StackSpec, deployment: DeploymentSpec, trace: Trace, attainment: float,
             floors: list[ShapeFloor], prefix_caching: bool | None) -> _Problem:
    ttft, tpot = deployment.slo.ttft_p95_ms / 1000, deployment.slo.tpot_p95_ms / 1000
    caching = deployment.engine.enable_prefix_caching if prefix_caching is None else prefix_caching
    facts = request_facts(trace, cached_prefix(trace, ttft, caching))
    costs = np.stack([gpu_seconds(facts, floors, lam) for lam in LAMBDAS])
    declared = throughput.profile(resolve(stack, deployment))
    limit = min(declared.max_model_len, declared.kv_cache_tokens)  # the fleet rejects longer requests
    servable = np.array([r.prompt_tokens + r.output_tokens <= limit for r in trace.requests])
    start = np.array([r.arrival_s for r in trace.requests])
    api = min(f.api_s for f in floors)
    end = start + np.maximum(0.0, ttft + tpot * facts.later_steps - api)
    must = math.ceil(attainment * len(trace.requests) - 1e-9)
    min_gpus = deployment.replicas.min * min(f.gpus for f in floors)
    last_admitted = float(start[servable].max(initial=0.0))  # the run ends no earlier (fleet._result)
    return _Problem(start, end, costs, servable, must, float(min_gpus), last_admitted)


def _edges(block: float, offset: float, horizon: float) -> np.ndarray:
    if not math.isfinite(block):
        return np.array([0.0, horizon])
    first = [0.0] if offset > 0 else []
    return np.array(first + [offset + k * block for k in range(int(horizon // block) + 2)])


def _grid(problem: _Problem, cost: np.ndarray, block: float, offset: float) -> _GridResult:
    """Steps 2-5 for one grid and one weight: least serving GPU-seconds and least peak GPUs."""
    horizon = max(float(problem.end.max(initial=0.0)), problem.run_end_s) + 1.0
    edges = _edges(block, offset, horizon)
    first = np.searchsorted(edges, problem.start, side="right") - 1
    last = np.searchsorted(edges, problem.end, side="left") - 1
    inside = (first == last) & problem.servable
    straddling = int(np.count_nonzero(~inside & problem.servable))
    lengths = np.diff(edges)
    floor = problem.min_gpus * np.clip(np.minimum(edges[1:], problem.run_end_s) - edges[:-1], 0.0, None)
    order = np.lexsort((cost[inside], first[inside]))
    which, work = first[inside][order], cost[inside][order]
    prefix = _group_cumsum(which, work)
    marginal = np.maximum(floor[which], prefix) - np.maximum(floor[which], prefix - work)
    need = min(problem.must, len(work) + straddling)
    picks = max(0, need - straddling)  # straddlers cost 0: served first
    serving = float(floor.sum() + np.sort(marginal)[:picks].sum())
    plain = float(np.sort(work)[:picks].sum())
    peak = _least_peak(which, prefix, lengths, picks)
    return _GridResult(serving, plain, peak)


def _group_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` restarting at each new value of the sorted ``groups``."""
    total = np.cumsum(values)
    if len(values) == 0:
        return total
    starts = np.r_[True, groups[1:] != groups[:-1]]
    base = np.maximum.accumulate(np.where(starts, total - values, -np.inf))  # sums before each group (costs >= 0)
    return total - base


def _least_peak(which: np.ndarray, prefix: np.ndarray, lengths: np.ndarray, picks: int) -> int:
    """The fewest GPUs some instant needs over all choices of ``picks`` in-block requests (step 5, bisected)."""
    if picks <= 0:
        return 0
    span = lengths[which]

    def served(gpus: int) -> int:
        return int(np.count_nonzero(prefix <= gpus * span * (1 + 1e-9)))

    low, high = 0, max(1, math.ceil(float((prefix / span).max())))
    while low < high:
        mid = (low + high) // 2
        if served(mid) >= picks:
            high = mid
        else:
            low = mid + 1
    return low
