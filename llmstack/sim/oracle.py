"""The oracle autoscaler: a bound on what any autoscaler can reach on a trace, knowing the future.

The fewest replicas per interval that keep >= 99 % of the requests within the SLO,
with perfect knowledge of the future (see :func:`oracle`): a per-replica capacity searched with
the engine model on a few thousand requests of the trace's own mix (TTFT and TPOT p99 within
the SLO), a first schedule from each interval's peak 1-minute arrival rate, requested a
start-up delay ahead, then a search over schedules with the fleet simulator itself (the
configuration the oracle is scored under): per-interval schedules, the smallest constant fleet
that meets the target, and per-interval sizing over a floor; the cheapest in GPU-hours is kept.
So it is never costlier than the smallest fixed fleet that meets the target; a heuristic search
over the other schedules of the declared shape, so an upper estimate of the true minimum. The
other side is :func:`llmstack.sim.bound.lower_bound`: no schedule, of any replica counts and any
candidate shape, reaches the oracle's attainment with fewer GPU-hours (proof in its docstring);
the true minimum lies between the two.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile
from llmstack.errors import LlmstackError
from llmstack.sim.engine import Engine, SimRequest
from llmstack.sim.fleet import Fleet, FleetConfig, SimResult
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, SloSpec, StackSpec, WorkloadSpec
from llmstack.spec.resolving import resolve
from llmstack.spec.scaling import Shape, ShapeChange

CALIBRATION_SAMPLES = 3000
CALIBRATION_QUANTILE = 0.99
CALIBRATION_STEPS = 12
ORACLE_TARGET = 0.99
ORACLE_MAX_RUNS = 6
BISECTION_RUNS = 4
CONSTANT_RUNS = 4
FLOOR_RUNS = 2


def _quantile_latencies(profile: EngineProfile, sample: list[tuple[int, int]], rate: float, seed: int,
                        quantile: float) -> tuple[float, float]:
    """TTFT and TPOT ``quantile`` (s) of one replica at ``rate`` Poisson arrivals of ``sample`` (inf if unfinished)."""
    rng = random.Random(seed)
    t = 0.0
    requests = []
    for i, (prompt, output) in enumerate(sample):
        t += rng.expovariate(rate)
        requests.append(SimRequest(i, t, prompt, output))
    Engine(profile).run(requests)
    done = [r for r in requests if r.finish_s is not None]
    if len(done) < len(requests):
        return math.inf, math.inf
    ttfts = sorted(r.ttft_s for r in done)
    tpots = sorted(r.tpot_s for r in done)
    k = min(len(done) - 1, int(quantile * len(done)))
    return ttfts[k], tpots[k]


def _fits(profile: EngineProfile, prompt: int, output: int) -> bool:
    return prompt + output <= min(profile.max_model_len, profile.kv_cache_tokens)


_CAPACITY_CACHE: dict[tuple[object, ...], float] = {}


def replica_capacity(profile: EngineProfile, slo: SloSpec, trace: Trace, *, samples: int = CALIBRATION_SAMPLES,
                     quantile: float = CALIBRATION_QUANTILE, seed: int = 0) -> float:
    """Largest request rate one replica serves within the SLO for the trace's request mix (engine-model search).

    ``samples`` requests drawn from the trace's own token lengths arrive as a Poisson stream at the
    rate tried; the rate passes when the TTFT and TPOT ``quantile`` of the whole run are within the
    SLO thresholds (a run long enough for queues near saturation to build). Where the trace's
    longest prompts miss the SLO even alone on a replica, the bar is 1.2x what a lone replica
    achieves at a trickle (the SLO cannot be met by adding replicas there). Cached in-process per
    (profile, SLO, trace, samples, quantile, seed).
    """
    key = (profile, slo.ttft_p95_ms, slo.tpot_p95_ms, _fingerprint(trace), samples, quantile, seed)
    if key in _CAPACITY_CACHE:
        return _CAPACITY_CACHE[key]
    rng = random.Random(seed)
    fitting = [(r.prompt_tokens, r.output_tokens) for r in trace.requests
               if _fits(profile, r.prompt_tokens, r.output_tokens)]
    if not fitting:
        return 0.0
    sample = [fitting[rng.randrange(len(fitting))] for _ in range(samples)]
    mean_prompt = sum(p for p, _ in sample) / len(sample)
    mean_output = sum(o for _, o in sample) / len(sample)
    ceiling = throughput.saturation_rps(profile, WorkloadSpec(prompt_tokens=max(1, round(mean_prompt)),
                                                              output_tokens=max(1, round(mean_output))))
    low, high = 0.0, max(0.1, 2 * ceiling)
    trickle_ttft, trickle_tpot = _quantile_latencies(profile, sample, high * 1e-3, seed, quantile)
    ttft_bar = max(slo.ttft_p95_ms / 1000, 1.2 * trickle_ttft)
    tpot_bar = max(slo.tpot_p95_ms / 1000, 1.2 * trickle_tpot)
    for _ in range(CALIBRATION_STEPS):
        mid = (low + high) / 2
        ttft, tpot = _quantile_latencies(profile, sample, mid, seed, quantile)
        if ttft <= ttft_bar and tpot <= tpot_bar:
            low = mid
        else:
            high = mid
    _CAPACITY_CACHE[key] = low
    return low


def _fingerprint(trace: Trace) -> tuple[object, ...]:
    reqs = trace.requests
    return (trace.name, len(reqs), trace.duration_s, sum(r.prompt_tokens for r in reqs),
            sum(r.output_tokens for r in reqs), sum(r.arrival_s for r in reqs))


@dataclass
class Oracle:
    """Fewest replicas per interval that meet the SLO, knowing the future arrivals.

    ``needed[b]`` is the replica count that must be up during interval ``b``; at ``t`` the oracle
    asks for the most any interval needs until a replica requested at ``t`` would be ready
    (``lookahead_s``: the start-up delay plus one interval), so replicas start ahead of the load.
    """

    needed: list[int]
    interval_s: float
    lookahead_s: float
    capacity_rps: float
    attainment: float = math.nan
    """The share of the trace's requests within the SLO in the oracle's own fleet simulation."""
    runs: int = 0
    """Fleet simulations the search took."""
    constant: int | None = None
    """The smallest constant fleet the search found meeting the target (the best static fleet), if any."""
    name: str = "oracle"
    respect_limits: bool = True
    hold_s: float = 0.0
    """Each interval's count is also asked for this long after the interval (a scale-in stabilization window)."""

    def initial_replicas(self) -> int:
        return self._at(0.0)

    def _at(self, t: float) -> int:
        first = int(max(0.0, t - self.hold_s) // self.interval_s)
        last = int((t + self.lookahead_s) // self.interval_s)
        window = self.needed[first:last + 1]
        return max(window) if window else (self.needed[-1] if self.needed else 1)

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        return self._at(now_s)

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        return None  # the search is over replica schedules of the declared shape (the lower bound: every shape)


def _peak_rates(trace: Trace, interval_s: float, window_s: float) -> list[float]:
    """Per interval: the peak ``window_s`` arrival rate (req/s) of any window holding the interval."""
    bins = int(trace.duration_s // interval_s) + 1
    counts = [0] * bins
    for r in trace.requests:
        counts[int(r.arrival_s // interval_s)] += 1
    per_window = max(1, round(window_s / interval_s))
    rates = []
    for b in range(bins):
        span = min(per_window, bins - b) * interval_s
        rates.append(sum(counts[b:b + per_window]) / span)
    return [max(rates[max(0, b - per_window + 1):b + 1]) for b in range(bins)]


def _attainable(profile: EngineProfile, slo: SloSpec, trace: Trace) -> list[bool]:
    """Per trace request: whether it can meet the SLO at all (fits the context; alone on a replica within the SLO).

    TTFT alone is the prefill time; TPOT alone is one decode step at the mid-output context
    (the capacity model at batch 1, which the engine model reproduces).
    """
    ttft_limit, tpot_limit = slo.ttft_p95_ms / 1000, slo.tpot_p95_ms / 1000
    prefill: dict[int, float] = {}
    flags = []
    for r in trace.requests:
        if not _fits(profile, r.prompt_tokens, r.output_tokens):
            flags.append(False)
            continue
        if r.prompt_tokens not in prefill:
            prefill[r.prompt_tokens] = throughput.prefill_time(profile, r.prompt_tokens)
        tpot = 0.0 if r.output_tokens <= 1 else throughput.step_time(
            profile, decode_seqs=1, decode_context_tokens=r.prompt_tokens + r.output_tokens // 2)
        flags.append(prefill[r.prompt_tokens] <= ttft_limit and tpot <= tpot_limit)
    return flags


def _misses(result: SimResult, attainable: list[bool], slo: SloSpec, interval_s: float,
            bins: int) -> list[int]:
    """Per arrival interval: attainable requests that missed the SLO (or did not finish) in ``result``."""
    ttft_limit, tpot_limit = slo.ttft_p95_ms / 1000, slo.tpot_p95_ms / 1000
    misses = [0] * bins
    for r in result.requests:
        if not attainable[r.id]:
            continue
        if r.finish_s is None or r.ttft_s > ttft_limit or r.tpot_s > tpot_limit:
            misses[min(bins - 1, int(r.arrival_s // interval_s))] += 1
    return misses


@dataclass(frozen=True)
class _Trial:
    """One fleet simulation of a candidate schedule."""

    needed: list[int]
    met: bool
    attainment: float
    gpu_hours: float


def oracle(stack: StackSpec, deployment: DeploymentSpec, trace: Trace, config: FleetConfig | None = None, *,
           target: float = ORACLE_TARGET, max_runs: int = ORACLE_MAX_RUNS, seed: int = 0) -> Oracle:
    """The oracle for ``deployment`` on ``trace``, searched with the fleet simulator under ``config``.

    1. One replica's capacity: :func:`replica_capacity` (TTFT and TPOT p99 within the SLO).
    2. A first schedule: per interval, the peak 1-minute arrival rate of any window holding it
       over that capacity, within the deployment's replica range.
    3. The fleet is simulated under the schedule (the same simulator and configuration the oracle
       is scored with; the simulation is deterministic). A schedule meets the target when at most
       ``1 - target`` of the attainable requests (those that fit the context and meet the SLO alone
       on a replica) miss the SLO. While it does not, the intervals with the most misses get one
       replica more; once it does, intervals with no miss within a window either side give one
       back (those with the most spare capacity first; half as many after a give-back that broke
       the target). At most ``max_runs`` fleet simulations for this per-interval search.
    4. Constant fleets: the smallest k in the replica range whose constant schedule meets the
       target, searched from the per-interval schedule's mean (one fewer, then galloping and
       bisecting; at most :data:`CONSTANT_RUNS` simulations, meeting assumed monotone in k).
    5. Floors: ``max(floor, per-interval sizing)`` over the leanest per-interval schedule tried,
       for floors under k: the smallest floor that meets (at most :data:`FLOOR_RUNS`
       simulations); a floor whose schedule has as many replica-intervals as the cheapest
       schedule met so far is not simulated.

    The schedule kept is the one with the fewest simulated GPU-hours among all that met the target
    (or, when none did, the one with the highest attainment).
    """
    config = config or FleetConfig()
    profile = throughput.profile(resolve(stack, deployment))
    capacity = replica_capacity(profile, deployment.slo, trace, seed=seed)
    if capacity <= 0:
        raise LlmstackError("oracle: no request of this trace fits the model's context", path="--trace")
    low, high = max(1, deployment.replicas.min), max(1, deployment.replicas.max)
    peaks = _peak_rates(trace, config.interval_s, config.window_s)
    bins = len(peaks)
    search = _ScheduleSearch(stack, deployment, trace, config, capacity, _attainable(profile, deployment.slo, trace),
                             target, bins)
    per_interval = _per_interval_search(search.simulate, peaks, capacity, low, high, config, max_runs,
                                        search.allowed)
    k = _smallest_constant(search.simulate, round(sum(per_interval) / bins), low, high, bins)
    if k is not None:
        lean = min((t.needed for t in search.trials if t.needed != [t.needed[0]] * bins), key=sum,
                   default=per_interval)
        _smallest_floor(search.simulate, lean, k, search.trials)
    best = _cheapest(search.trials)
    return Oracle(best.needed, config.interval_s, search.lookahead, capacity, attainment=best.attainment,
                  runs=len(search.trials), constant=k)


class _ScheduleSearch:
    """Fleet simulations of candidate schedules, each simulated once; every trial is kept."""

    def __init__(self, stack: StackSpec, deployment: DeploymentSpec, trace: Trace, config: FleetConfig,
                 capacity: float, attainable: list[bool], target: float, bins: int) -> None:
        self.stack, self.deployment, self.trace, self.config = stack, deployment, trace, config
        self.capacity, self.attainable, self.bins = capacity, attainable, bins
        self.allowed = (1 - target) * sum(attainable)
        """Attainable requests that may miss the SLO while the schedule still meets the target."""
        self.lookahead = config.startup_delay_s + config.interval_s
        self.trials: list[_Trial] = []
        self._done: dict[tuple[int, ...], tuple[_Trial, list[int]]] = {}

    def simulate(self, schedule: list[int]) -> tuple[_Trial, list[int]]:
        """The trial of ``schedule`` and its misses per interval."""
        if tuple(schedule) in self._done:
            return self._done[tuple(schedule)]
        scaler = Oracle(schedule, self.config.interval_s, self.lookahead, self.capacity)
        result = Fleet(self.stack, self.deployment, scaler, self.config).run(self.trace)
        misses = _misses(result, self.attainable, self.deployment.slo, self.config.interval_s, self.bins)
        attained = (sum(self.attainable) - sum(misses)) / len(self.trace.requests)
        trial = _Trial(schedule, sum(misses) <= self.allowed, attained, result.gpu_hours)
        self.trials.append(trial)
        self._done[tuple(schedule)] = trial, misses
        return trial, misses


def _cheapest(trials: list[_Trial]) -> _Trial:
    """The fewest GPU-hours among the trials that met the target; else the highest attainment."""
    met = [t for t in trials if t.met]
    if met:
        return min(met, key=lambda t: (t.gpu_hours, sum(t.needed)))
    return max(trials, key=lambda t: (t.attainment, -t.gpu_hours))


_Simulate = Callable[[list[int]], tuple[_Trial, list[int]]]


def _per_interval_search(simulate_schedule: _Simulate, peaks: list[float], capacity: float, low: int, high: int,
                         config: FleetConfig, max_runs: int, allowed: float) -> list[int]:
    """Step 3 of :func:`oracle`: the cheapest per-interval schedule that met (or the last one tried)."""
    needed = [max(low, min(high, math.ceil(rate / capacity))) for rate in peaks]
    per_window = max(1, round(config.window_s / config.interval_s))
    best: tuple[int, list[int]] | None = None  # (replica-intervals, schedule)
    best_misses: list[int] = []
    last = needed
    share = 1.0  # of the quiet intervals given back in one trim
    scale_low, scale_high = 1.0, 2.0  # bisection on the capacity multiplier (pooling across replicas)
    bisecting = True
    runs = 0
    while runs < max_runs:
        runs += 1
        trial, misses = simulate_schedule(needed)
        last = needed
        met = trial.met
        if met and (best is None or sum(needed) < best[0]):
            best, best_misses = (sum(needed), needed), misses
        if best is not None and bisecting and runs <= BISECTION_RUNS:
            # several replicas pool their queues behind the balancer, so each holds more than one
            # alone: search the largest capacity multiplier whose peak schedule meets the target
            mid = (scale_low + scale_high) / 2
            if runs > 1:
                scale_low, scale_high = (mid, scale_high) if met else (scale_low, mid)
                mid = (scale_low + scale_high) / 2
            if runs < BISECTION_RUNS:
                needed = [max(low, min(high, math.ceil(rate / (capacity * mid)))) for rate in peaks]
                continue
            bisecting = False
        elif not met and best is None:  # not met yet: one replica more where the most requests missed
            bisecting = False
            excess = sum(misses) - allowed
            order = sorted((b for b in range(len(needed)) if misses[b] and needed[b] < high),
                           key=lambda b: -misses[b])
            if not order:
                break  # the misses are in intervals already at the deployment's maximum
            bumped, covered = set(), 0
            for b in order:
                bumped.add(b)
                covered += misses[b]
                if covered >= 2 * excess:
                    break
            needed = [n + 1 if b in bumped else n for b, n in enumerate(needed)]
            continue
        elif not met:  # a trim broke the target: give back fewer intervals next time
            share /= 2
        assert best is not None
        base = best[1]
        quiet = sorted((b for b in range(len(base)) if base[b] > low
                        and not any(best_misses[max(0, b - per_window):b + per_window + 1])),
                       key=lambda b: -(base[b] - peaks[b] / capacity))  # most spare capacity first
        count = int(len(quiet) * share)
        if count == 0:
            break
        give_back = set(quiet[:count])
        needed = [n - 1 if b in give_back else n for b, n in enumerate(base)]
    return best[1] if best is not None else last


def _smallest_constant(simulate_schedule: _Simulate, hint: int, low: int, high: int, bins: int) -> int | None:
    """Step 4 of :func:`oracle`: the smallest constant fleet in ``low..high`` that meets (None if none tried did)."""
    below, above = low - 1, high + 1  # known to miss / known to meet (sentinels: not simulated)
    probe = max(low, min(high, hint))
    step = 1
    for _ in range(CONSTANT_RUNS):
        if above - below <= 1:
            break
        trial, _ = simulate_schedule([probe] * bins)
        if trial.met:
            above = probe
            probe = max(below + 1, probe - step) if below < low else (below + above) // 2
        else:
            below = probe
            probe = min(above - 1, probe + step) if above > high else (below + above) // 2
        step *= 2
    return above if above <= high else None


def _smallest_floor(simulate_schedule: _Simulate, lean: list[int], k: int, trials: list[_Trial]) -> None:
    """Step 5 of :func:`oracle`: floors under ``k`` over the ``lean`` sizing, highest first, then bisected."""
    below, above = 0, k  # floors known to miss / to meet (k: the constant fleet met)
    probe = k - 1
    for _ in range(FLOOR_RUNS):
        if above - below <= 1 or probe <= below:
            break
        schedule = [max(probe, n) for n in lean]
        cheapest = min(sum(t.needed) for t in trials if t.met)
        if sum(schedule) >= cheapest:
            above = probe  # no cheaper than what met: only lower floors can pay
        else:
            trial, _ = simulate_schedule(schedule)
            if trial.met:
                above = probe
            else:
                below = probe
                if probe == k - 1:
                    break  # the highest floor misses: lower ones miss too
        probe = (below + above) // 2
