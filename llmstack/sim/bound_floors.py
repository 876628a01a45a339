"""The least GPU-seconds each request of a trace costs on each shape a fleet may run: the bound's per-request work.

Every number here is a floor of what the simulated engine (:mod:`llmstack.sim.engine`, one
replica: steps of :func:`~llmstack.capacity.throughput.step_time`, decode runs of the same terms)
spends on one request, whatever else runs beside it. A step of ``k`` scheduled tokens of ``s``
sequences (``s <= max_num_seqs``: the engine admits while fewer run; ``k >= s``) takes

    max(compute, memory) + fixed      compute = (linear + attention FLOPs) / FLOP rate
                                      memory  = (weights read + KV read + KV written) / byte rate

and ``max(c, m) >= lam c + (1 - lam) m`` for every ``lam`` in [0, 1]. Each term splits into
per-sequence shares that sum to at most the term:

- **linear FLOPs**: ``2 x active params`` per scheduled token (:func:`throughput.decode_terms`' ``c0``);
- **attention FLOPs**: ``4 x layers x heads x head_dim`` per attended token; a decode token attends
  its sequence's context, a prefill of a sequence from ``C`` computed tokens to ``P`` attends at
  least ``(P^2 - C^2) / 2`` in all (the engine charges every chunk of a step the step's whole context);
- **weights**: ``weight_bytes_read(k) >= weight_bytes_read(s)`` and ``weight_bytes_read(s) / s``
  falls with ``s`` (concave, non-negative at 0; constant for dense models), so each sequence's
  share is at least ``weight_bytes_read(S) / S`` with ``S = max_num_seqs``;
- **KV**: every scheduled token is written; a decode step reads its sequence's context, a prefill
  chunk the tokens its sequence already holds, cached prefix included;
- **fixed**: ``step_overhead + layers' overheads + per_sequence x (decodes, + 1 with a prefill) +
  all-reduce(k) + PP hops`` >= ``s x fixed_time(S tokens, 1 sequence) / S`` (all terms >= 0, the
  all-reduce affine in tokens, so its per-sequence share falls with ``s``).

**Per request.** ``P`` prompt tokens, ``O`` output tokens, ``C`` its cached prefix. Token 1 comes
from the prefill attempt that completes the prompt: at least ``P - C`` linear tokens in at least
``ceil((P - C) / max_num_batched_tokens)`` steps, attention ``(P^2 - C^2) / 2``, KV ``P`` (the cached
``C`` read by the first chunk, the rest written). Each later token ``j + 1`` (``j = 1 .. O-1``) comes
from its own step: a decode (1 linear token, attention and KV read ``P + j``, 1 written) or, after a
preemption, a re-prefill of ``P + j`` known tokens from ``C' <= P + j - 1`` (at least 1 linear token,
attention ``>= ((P+j)^2 - (P+j-1)^2) / 2 >= P + j - 1/2``, KV ``>= P + j``). Earlier attempts only add.
So for any ``lam`` the request costs at least ``lam x compute + (1 - lam) x memory + fixed`` of
its replica's time, summed from those floors, and that x the replica's GPUs in GPU-seconds.

**Cached prefix.** The engine reuses a leading run of a request's Mooncake ``hash_ids`` found in its
replica's prefix cache, at most ``prompt - 1`` tokens; a block enters a cache when another request
holding it completes its prefill (after that request's arrival), and the lookup happens before
the request's first token. For a request within the TTFT SLO every reused block is held by another
request arriving less than the TTFT SLO after it: ``C`` is at most 512 x that run (the request's
own blocks after a preemption come only after its first prefill, counted above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmstack.capacity import throughput
from llmstack.sim.engine import PREFIX_BLOCK_TOKENS
from llmstack.sim.moves import ShapeModel
from llmstack.sim.traces import Trace
from llmstack.spec.scaling import Shape

LAMBDAS = tuple(i / 10 for i in range(11))
"""The weights ``lam`` of compute against memory tried (each one gives a valid floor)."""


@dataclass(frozen=True)
class ShapeFloor:
    """One shape's floors per unit of what a request does (seconds of one replica), its GPUs and start-up."""

    shape: Shape
    gpus: int
    startup_s: float
    linear_s: float
    """Per scheduled token: linear-layer FLOPs over the FLOP rate."""
    attention_s: float
    """Per attended context token: attention FLOPs over the FLOP rate."""
    kv_s: float
    """Per KV token read or written: bytes over the byte rate."""
    weight_share_s: float
    """Per step a sequence is in: its least share of the weights read."""
    fixed_share_s: float
    """Per step a sequence is in: its least share of the step's fixed time."""
    max_batched_tokens: int
    api_s: float
    """The API server time after the last step (the window ends that much before the last token is sent)."""

    @staticmethod
    def of(model: ShapeModel) -> ShapeFloor:
        p = model.profile
        terms = throughput.decode_terms(p, 1)
        rate = p.bandwidth_per_gpu * p.bandwidth_efficiency / p.pipeline_parallel  # throughput._bytes_rate
        seqs = max(1, p.max_num_seqs)
        fixed_ok = p.step_overhead_s >= 0 and p.per_sequence_overhead_s >= 0
        return ShapeFloor(
            model.shape, model.gpus_per_replica, model.startup_s, linear_s=terms.c0, attention_s=terms.c1,
            kv_s=p.kv_bytes_per_token_per_gpu / rate,
            weight_share_s=throughput.weight_bytes_read(p, seqs) / seqs / rate,
            fixed_share_s=throughput.fixed_time(p, seqs, 1) / seqs if fixed_ok else 0.0,
            max_batched_tokens=max(1, p.max_num_batched_tokens), api_s=p.api_server_s)


@dataclass(frozen=True)
class RequestFacts:
    """Per request of a trace (arrays in trace order): what any serving of it must compute."""

    tokens: np.ndarray
    """Least scheduled tokens: uncached prompt + output - 1."""
    uncached: np.ndarray
    attended: np.ndarray
    """Least attended context tokens (prefill and decodes)."""
    kv_tokens: np.ndarray
    """Least KV tokens read or written."""
    later_steps: np.ndarray
    """Steps after the first token: output - 1."""


def cached_prefix(trace: Trace, ttft_s: float, prefix_caching: bool) -> np.ndarray:
    """Per request: the most prompt tokens a prefix cache can save it if it meets the TTFT SLO (module docstring)."""
    n = len(trace.requests)
    if not prefix_caching:
        return np.zeros(n)
    holders: dict[int, list[tuple[float, int]]] = {}
    for i, r in enumerate(trace.requests):
        for h in set(r.hash_ids or ()):
            first = holders.setdefault(h, [])
            if len(first) < 2 or r.arrival_s < first[-1][0]:
                first.append((r.arrival_s, i))
                first.sort()
                del first[2:]
    cached = np.zeros(n)
    for i, r in enumerate(trace.requests):
        run = 0
        for h in r.hash_ids or ():
            if not any(j != i and t < r.arrival_s + ttft_s for t, j in holders[h]):
                break
            run += 1
        cached[i] = min(run * PREFIX_BLOCK_TOKENS, max(0, r.prompt_tokens - 1))
    return cached


def request_facts(trace: Trace, cached: np.ndarray) -> RequestFacts:
    prompt = np.array([max(1, r.prompt_tokens) for r in trace.requests], dtype=float)
    output = np.array([max(1, r.output_tokens) for r in trace.requests], dtype=float)
    later = output - 1
    uncached = prompt - cached
    attended = (prompt ** 2 - cached ** 2) / 2 + later * (prompt - 0.5) + later * output / 2
    kv = output * prompt + output * later / 2
    return RequestFacts(uncached + later, uncached, attended, kv, later)


def gpu_seconds(facts: RequestFacts, floors: list[ShapeFloor], lam: float) -> np.ndarray:
    """Per request: the least GPU-seconds of any shape at weight ``lam`` (``lam`` compute + ``1 - lam`` memory)."""
    best = np.full(len(facts.tokens), np.inf)
    for f in floors:
        steps = facts.later_steps + np.ceil(facts.uncached / f.max_batched_tokens)
        compute = f.linear_s * facts.tokens + f.attention_s * facts.attended
        memory = f.kv_s * facts.kv_tokens + f.weight_share_s * steps
        seconds = lam * compute + (1 - lam) * memory + f.fixed_share_s * steps
        best = np.minimum(best, f.gpus * seconds)
    return best
