"""Discrete-event model of one vLLM replica: continuous batching on the capacity model's roofline.

Every engine step takes exactly :func:`llmstack.capacity.throughput.step_time` for the tokens it
schedules, so a request alone on the replica sees the TTFT and TPOT of
:func:`~llmstack.capacity.throughput.single_request_latency`: TTFT ends with the last prefill
step (which samples the first token) plus the API server's time, TPOT is the mean over the
following decode steps. Requests arrive at any time: one arriving mid-step waits for that step
to end (:meth:`Engine.interrupt` cuts a decode run at the step boundary after the arrival).

Scheduling follows vLLM V1's scheduler in outline:

- a step's token budget is ``max_num_batched_tokens``; running decodes take one token each
  first, then partially prefilled running requests, then waiting requests are admitted in
  order (chunked prefill) while ``max_num_seqs``, the budget and free KV blocks allow;
- KV cache is ``kv_cache_tokens // block_size`` blocks; a request holds
  ``ceil(computed_tokens / block_size)`` blocks; when a running request needs a block and none
  is free, the last-admitted running request is preempted (recompute: it goes back to the
  front of the queue and later re-prefills its prompt plus the tokens generated so far);
- with prefix caching on, a request's leading Mooncake ``hash_ids`` (512-token blocks) found in
  the replica's LRU prefix cache are not prefilled again. KV accounting does not share blocks
  between running requests (a conservative simplification).

Speed: consecutive decode-only steps with an unchanged batch form a *run* whose total time has
a closed form (context grows by one token per sequence per step, and step time is the max of
two lines in context), so an hour of traffic costs a few events per request, not one per
token. Runs are cut at any step boundary when a request arrives (:meth:`Engine.interrupt`) and
committed up to a time for metrics (:meth:`Engine.advance_to`), so results do not depend on
how runs are split. Nothing here allocates per-token objects.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile

PREFIX_BLOCK_TOKENS = 512
"""Tokens per Mooncake ``hash_ids`` block."""


class SimRequest:
    """One request's inputs and its progress through an engine (mutable, slotted: no per-token objects)."""

    __slots__ = (
        "arrival_s",
        "blocks",
        "cached_tokens",
        "computed",
        "finish_s",
        "first_scheduled_s",
        "first_token_s",
        "generated",
        "hash_ids",
        "id",
        "output_tokens",
        "preemptions",
        "prefill_done_s",
        "prefilling",
        "prompt_tokens",
        "replica",
    )

    def __init__(self, id: int, arrival_s: float, prompt_tokens: int, output_tokens: int,
                 hash_ids: Sequence[int] | None = None) -> None:
        self.id = id
        self.arrival_s = arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.hash_ids = hash_ids
        self.generated = 0
        self.computed = 0
        self.blocks = 0
        self.prefilling = True
        self.cached_tokens = 0
        self.preemptions = 0
        self.first_scheduled_s: float | None = None
        self.first_token_s: float | None = None
        self.prefill_done_s: float | None = None
        self.finish_s: float | None = None
        self.replica = -1

    @property
    def known_tokens(self) -> int:
        """Prompt plus generated tokens: what a (re)prefill has to compute."""
        return self.prompt_tokens + self.generated

    @property
    def ttft_s(self) -> float:
        assert self.first_token_s is not None
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> float:
        """Mean time per output token after the first (0 for one-token outputs), as vLLM reports it."""
        assert self.first_token_s is not None and self.finish_s is not None
        if self.output_tokens <= 1:
            return 0.0
        return (self.finish_s - self.first_token_s) / (self.output_tokens - 1)


@dataclass(frozen=True)
class DecodeLine(throughput.DecodeTerms):
    """The capacity model's decode step (:class:`~llmstack.capacity.throughput.DecodeTerms`: the same terms,
    so the simulator cannot drift from it), summed over runs of steps whose context grows by ``n`` each."""

    def run_time(self, s0: int, steps: int) -> float:
        """Total time of ``steps`` decode steps whose first has context ``s0`` (growing by n per step)."""
        if steps <= 0:
            return 0.0
        n = self.n
        dc1 = self.c1 - self.m1
        if dc1 == 0:
            cross = -1 if self.c0 >= self.m0 else steps  # one branch throughout
        else:
            # compute >= memory  <=>  (c0 - m0) + dc1 (s0 + i n) >= 0
            cross = math.ceil(((self.m0 - self.c0) / dc1 - s0) / n)
            cross = min(max(cross, 0), steps)
        total = steps * self.fixed
        for lo, hi in ((0, cross), (cross, steps)):
            if hi <= lo:
                continue
            probe = s0 + n * (lo + hi - 1) / 2  # one branch holds on the whole segment
            if self.c0 + self.c1 * probe >= self.m0 + self.m1 * probe:
                a, b = self.c0, self.c1
            else:
                a, b = self.m0, self.m1
            count = hi - lo
            total += count * (a + b * s0) + b * n * (lo + hi - 1) * count / 2
        return total

    def steps_within(self, s0: int, steps: int, elapsed: float) -> int:
        """Largest j <= steps whose first j steps end within ``elapsed`` seconds."""
        lo, hi = 0, steps
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.run_time(s0, mid) <= elapsed:
                lo = mid
            else:
                hi = mid - 1
        return lo


def decode_line(p: EngineProfile, n: int) -> DecodeLine:
    """The two lines of :func:`throughput.step_time` for ``n`` decode-only sequences (the same terms)."""
    return DecodeLine(**dataclasses.asdict(throughput.decode_terms(p, n)))


class _Plan:
    """The step(s) in progress: one mixed step, or a run of ``steps`` identical-batch decode steps."""

    __slots__ = ("chunks", "decodes", "end", "line", "s0", "start", "steps", "tokens")

    def __init__(self, start: float, end: float, steps: int, chunks: list[tuple[SimRequest, int]],
                 decodes: list[SimRequest], tokens: int, line: DecodeLine | None, s0: int) -> None:
        self.start = start
        self.end = end
        self.steps = steps
        self.chunks = chunks
        self.decodes = decodes
        self.tokens = tokens
        self.line = line
        self.s0 = s0


TokenHook = Callable[[SimRequest, int, float], None]
"""Called as ``hook(request, new_tokens, at_s)`` whenever requests produce tokens (live mode)."""


class Engine:
    """One replica's scheduler, KV cache and clock-free state; callers pass times in."""

    def __init__(self, profile: EngineProfile, *, prefix_caching: bool = False,
                 on_tokens: TokenHook | None = None) -> None:
        self.profile = profile
        self.block_size = profile.block_size
        self.total_blocks = max(1, profile.kv_cache_tokens // profile.block_size)
        self.prefix_caching = prefix_caching
        # tokens reach the client this much after the step that produced them (API server: detokenize, SSE);
        # together with tokenizing on the way in this is the capacity model's api_server_s, all put on the way out
        self.api_server_s = profile.api_server_s
        self.prefix_capacity = max(1, profile.kv_cache_tokens // PREFIX_BLOCK_TOKENS)
        self.prefix_cache: OrderedDict[int, None] = OrderedDict()
        self.on_tokens = on_tokens
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self.used_blocks = 0
        self.plan: _Plan | None = None
        self._lines: dict[int, DecodeLine] = {}
        # counters (monotonic, like vLLM's)
        self.busy_s = 0.0
        self.steps = 0
        self.prompt_tokens = 0  # prompts of requests that got their first token (vLLM's prompt_tokens)
        self.computed_prompt_tokens = 0  # prefill tokens actually computed, recomputes included
        self.cached_prompt_tokens = 0
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.generation_tokens = 0
        self.preemptions = 0
        self.finished = 0
        self.iteration_tokens: list[int] | None = None  # set to a list to record tokens per step (live mode)

    # ------------------------------------------------------------ queries

    @property
    def busy(self) -> bool:
        return self.plan is not None

    @property
    def in_flight(self) -> int:
        return len(self.waiting) + len(self.running)

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    @property
    def kv_usage(self) -> float:
        return self.used_blocks / self.total_blocks

    def line(self, n: int) -> DecodeLine:
        cached = self._lines.get(n)
        if cached is None:
            cached = self._lines[n] = decode_line(self.profile, n)
        return cached

    # ------------------------------------------------------------ driving

    def submit(self, request: SimRequest) -> None:
        self.waiting.append(request)

    def admit(self, request: SimRequest, now: float) -> float | None:
        """Queue ``request`` at ``now`` and let the engine take it at its next step: a decode run in
        progress is cut after the step under way, an idle engine starts one. Returns when the step in
        progress ends (None: idle)."""
        self.submit(request)
        return self.interrupt(now) if self.busy else self.start(now)

    def abort(self, request: SimRequest) -> None:
        """Drop ``request`` (its client went away) between steps: out of the queues, its KV blocks freed."""
        assert self.plan is None, "abort only between steps"
        if request in self.waiting:
            self.waiting.remove(request)
        elif request in self.running:
            self.running.remove(request)
        self.used_blocks -= request.blocks
        request.blocks = 0

    def start(self, now: float, max_steps: int | None = None) -> float | None:
        """Plan the next step (or decode run) from ``now``; returns when it ends, None when idle."""
        assert self.plan is None, "a step is already in progress"
        if not self.waiting and not self.running:
            return None
        p = self.profile
        bs = self.block_size
        budget = p.max_num_batched_tokens
        decodes: list[SimRequest] = []
        chunks: list[tuple[SimRequest, int]] = []
        # 1. running decodes, one token each; preempt from the tail when blocks run out
        i = 0
        while i < len(self.running):
            r = self.running[i]
            if r.prefilling:
                i += 1
                continue
            need = -(-(r.computed + 1) // bs) - r.blocks
            while need > self.total_blocks - self.used_blocks:
                victim = self.running[-1]
                self._preempt(victim)
                if victim is r:
                    break
            if r.prefilling:  # r itself was preempted
                continue
            r.blocks += need
            self.used_blocks += need
            decodes.append(r)
            budget -= 1
            i += 1
        # 2. partially prefilled running requests (preempting from the tail when no block is free)
        i = 0
        while i < len(self.running) and budget > 0:
            r = self.running[i]
            if not r.prefilling:
                i += 1
                continue
            tokens = self._fit_chunk(r, min(r.known_tokens - r.computed, budget))
            while tokens <= 0 and self.running[-1] is not r:
                self._preempt(self.running[-1])
                tokens = self._fit_chunk(r, min(r.known_tokens - r.computed, budget))
            if tokens <= 0:
                self._preempt(r)
                continue
            chunks.append((r, tokens))
            budget -= tokens
            i += 1
        # 3. admit waiting requests
        while self.waiting and budget > 0 and len(self.running) < p.max_num_seqs:
            r = self.waiting[0]
            if r.computed == 0 and self.prefix_caching and r.hash_ids and not r.cached_tokens:
                self._lookup_prefix(r)
            tokens = self._fit_chunk(r, min(r.known_tokens - r.computed, budget))
            if tokens <= 0:
                break
            self.waiting.popleft()
            if r.first_scheduled_s is None:
                r.first_scheduled_s = now
            self.running.append(r)
            chunks.append((r, tokens))
            budget -= tokens
        if not chunks and not decodes:
            return None  # nothing fits (cannot happen with sane profiles: requests are sized to fit)
        n = len(decodes)
        context = 0
        for r in decodes:
            context += r.computed + 1
        if chunks:
            prefill = sum(t for _, t in chunks)
            prefill_context = sum(r.computed for r, _ in chunks)
            duration = throughput.step_time(p, prefill, prefill_context, n, context)
            self.plan = _Plan(now, now + duration, 1, chunks, decodes, prefill + n, None, context)
            return self.plan.end
        # decode-only run: until the first request finishes, bounded so no block can run out
        steps = min(r.output_tokens - r.generated for r in decodes)
        free = self.total_blocks - self.used_blocks
        steps = min(steps, 1 + bs * (free // n))
        if self.waiting and len(self.running) < p.max_num_seqs:
            steps = 1  # a waiting request could not get blocks: re-check every step as they free up
        if max_steps is not None:
            steps = min(steps, max_steps)
        line = self.line(n)
        duration = line.run_time(context, steps)
        self.plan = _Plan(now, now + duration, steps, [], decodes, n, line, context)
        return self.plan.end

    def advance_to(self, t: float) -> list[SimRequest]:
        """Commit the steps of the current run that have ended by ``t`` (the run goes on)."""
        plan = self.plan
        if plan is None or plan.line is None or plan.steps <= 1 or t >= plan.end:
            return []
        done = plan.line.steps_within(plan.s0, plan.steps - 1, t - plan.start)
        if done <= 0:
            return []
        elapsed = plan.line.run_time(plan.s0, done)
        self._commit_decodes(plan, done, plan.start + elapsed)
        plan.start += elapsed
        plan.s0 += done * plan.line.n
        plan.steps -= done
        return []

    def interrupt(self, t: float) -> float | None:
        """Cut the current run after the step in progress at ``t``; returns the new end (None if idle)."""
        plan = self.plan
        if plan is None:
            return None
        if plan.line is not None and plan.steps > 1:
            self.advance_to(t)
            if plan.steps > 1:
                plan.steps = 1
                plan.end = plan.start + plan.line.run_time(plan.s0, 1)
        return plan.end

    def complete(self) -> list[SimRequest]:
        """Finish the current plan at its end time; returns the requests that finished."""
        plan = self.plan
        assert plan is not None
        self.plan = None
        end = plan.end
        finished: list[SimRequest] = []
        if plan.line is not None:
            self._commit_decodes(plan, plan.steps, end)
        else:
            self.busy_s += end - plan.start
            self.steps += 1
            if self.iteration_tokens is not None:
                self.iteration_tokens.append(plan.tokens)
            for r in plan.decodes:
                r.computed += 1
                r.generated += 1
            self.generation_tokens += len(plan.decodes)
            if self.on_tokens is not None:
                for r in plan.decodes:
                    self.on_tokens(r, 1, end)
            for r, tokens in plan.chunks:
                r.computed += tokens
                self.computed_prompt_tokens += tokens
                if r.computed >= r.known_tokens:
                    r.prefilling = False
                    r.generated += 1
                    self.generation_tokens += 1
                    if r.first_token_s is None:
                        r.first_token_s = end + self.api_server_s
                        r.prefill_done_s = end
                        self.prompt_tokens += r.prompt_tokens
                    if self.prefix_caching and r.hash_ids:
                        self._remember_prefix(r)
                    if self.on_tokens is not None:
                        self.on_tokens(r, 1, end)
        for r in list(plan.decodes) + [r for r, _ in plan.chunks]:
            if not r.prefilling and r.generated >= r.output_tokens and r.finish_s is None:
                r.finish_s = end + self.api_server_s
                finished.append(r)
        if finished:
            done = {id(r) for r in finished}
            self.running = [r for r in self.running if id(r) not in done]
            for r in finished:
                self.used_blocks -= r.blocks
                r.blocks = 0
            self.finished += len(finished)
        return finished

    def run(self, requests: Sequence[SimRequest]) -> tuple[float, list[SimRequest]]:
        """Drive this engine alone through ``requests`` (by arrival) until it has nothing left to schedule.

        Returns the time the last step ended and the finished requests in completion order. A
        request that can never be scheduled (e.g. larger than the KV cache) stays unfinished.
        """
        pending = sorted(requests, key=lambda r: r.arrival_s)
        finished: list[SimRequest] = []
        now, j = 0.0, 0
        while j < len(pending) or self.has_work:
            end = self.plan.end if self.plan is not None else math.inf
            if j < len(pending) and pending[j].arrival_s < end:
                now = max(now, pending[j].arrival_s)
                self.admit(pending[j], now)
                j += 1
                continue
            if self.plan is None:
                break
            now = self.plan.end
            finished.extend(self.complete())
            self.start(now)
        return now, finished

    # ------------------------------------------------------------ internals

    def _commit_decodes(self, plan: _Plan, steps: int, end: float) -> None:
        bs = self.block_size
        assert plan.line is not None
        self.busy_s += end - plan.start
        self.steps += steps
        if self.iteration_tokens is not None:
            self.iteration_tokens.extend([plan.line.n] * steps)
        for r in plan.decodes:
            r.computed += steps
            r.generated += steps
            # the first step's block was reserved when planning; later ones are allocated here
            blocks = -(-r.computed // bs)
            if blocks > r.blocks:
                self.used_blocks += blocks - r.blocks
                r.blocks = blocks
            if self.on_tokens is not None:
                self.on_tokens(r, steps, end)
        self.generation_tokens += steps * plan.line.n

    def _fit_chunk(self, r: SimRequest, tokens: int) -> int:
        """Shrink a prefill chunk to the free KV blocks; 0 when not even one token fits."""
        if tokens <= 0:
            return 0
        bs = self.block_size
        free = self.total_blocks - self.used_blocks
        have = r.blocks
        # blocks already held plus free ones bound the tokens that can be computed
        limit = (have + free) * bs - r.computed
        tokens = min(tokens, limit)
        if tokens <= 0:
            return 0
        need = -(-(r.computed + tokens) // bs) - have
        r.blocks += need
        self.used_blocks += need
        return tokens

    def _preempt(self, r: SimRequest) -> None:
        self.running.remove(r)
        self.used_blocks -= r.blocks
        r.blocks = 0
        r.computed = 0
        r.cached_tokens = 0
        r.prefilling = True
        r.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(r)

    def _lookup_prefix(self, r: SimRequest) -> None:
        assert r.hash_ids is not None
        hits = 0
        for h in r.hash_ids:
            if h not in self.prefix_cache:
                break
            self.prefix_cache.move_to_end(h)
            hits += 1
        cached = min(hits * PREFIX_BLOCK_TOKENS, r.known_tokens - 1)
        cached -= cached % self.block_size
        self.prefix_queries += r.prompt_tokens
        self.prefix_hits += max(0, cached)
        if cached > 0:
            r.cached_tokens = cached
            r.computed = cached
            self.cached_prompt_tokens += cached

    def _remember_prefix(self, r: SimRequest) -> None:
        assert r.hash_ids is not None
        cache = self.prefix_cache
        for h in r.hash_ids:
            if h in cache:
                cache.move_to_end(h)
            else:
                cache[h] = None
        while len(cache) > self.prefix_capacity:
            cache.popitem(last=False)
