"""The signals the policy engine reads, as PromQL over vLLM and DCGM metrics.

One definition serves three places: the recording rules that
:mod:`llmstack.artifacts.prometheus` generates (``record`` = ``expr``), the metrics
reader that queries them once per cycle for all deployments, and the simulator's
adapter, which computes the same quantities from the simulated fleet.

Every expression aggregates ``by (deployment)``: scrape configs attach a
``deployment`` label (plus ``model``, ``variant``, ``pool``) to every vLLM engine and
DCGM target. Metric names are exactly those vLLM 0.33 and dcgm-exporter 4.5 export
(counters carry prometheus_client's ``_total`` suffix).
"""

from __future__ import annotations

from dataclasses import dataclass

RATE_WINDOW = "1m"
"""Window of rate() and histogram quantiles: four 15 s scrapes."""

DEPLOYMENT_LABEL = "deployment"


@dataclass(frozen=True)
class Signal:
    name: str
    record: str
    expr: str
    unit: str
    help: str

    @property
    def windowed(self) -> bool:
        """Reads a range of samples (a rate, a histogram quantile over the window): it describes the
        fleet that served during the window, not the one serving now."""
        return "[" in self.expr


def _series(metric: str, where: str, *matchers: str) -> str:
    """``metric`` with its label matchers (``matchers`` and ``where``) as PromQL spells them."""
    inner = ",".join(m for m in (*matchers, where) if m)
    return f"{metric}{{{inner}}}" if inner else metric


def _quantile(q: float, histogram: str, window: str, where: str) -> str:
    return (f"histogram_quantile({q}, sum by (deployment, le) "
            f"(rate({_series(histogram + '_bucket', where)}[{window}])))")


def signals(window: str = RATE_WINDOW, where: str = "") -> tuple[Signal, ...]:
    """All signals, with rates and quantiles over ``window``.

    ``where`` (label matchers such as ``deployment="chat"``) restricts every series the expressions
    read: an alert for one deployment computes from the raw series this way.
    """

    def m(metric: str, *matchers: str) -> str:
        return _series(metric, where, *matchers)

    engines_up = m("up", 'llmstack_role="engine"')
    fb_used, fb_free = m("DCGM_FI_DEV_FB_USED"), m("DCGM_FI_DEV_FB_FREE")
    return (
        Signal("request_rate", "deployment:vllm_requests:rate",
               f"sum by (deployment) (rate({m('vllm:request_success_total')}[{window}]))",
               "req/s", "finished requests per second"),
        Signal("queue_length", "deployment:vllm_requests_waiting:sum",
               f"sum by (deployment) ({m('vllm:num_requests_waiting')})",
               "requests", "requests waiting for a batch slot, all replicas"),
        Signal("running_requests", "deployment:vllm_requests_running:sum",
               f"sum by (deployment) ({m('vllm:num_requests_running')})",
               "requests", "requests in the running batch, all replicas"),
        Signal("kv_cache_usage", "deployment:vllm_kv_cache_usage:avg",
               f"avg by (deployment) ({m('vllm:kv_cache_usage_perc')})",
               "ratio", "KV-cache blocks in use, mean over replicas (0-1)"),
        Signal("kv_cache_usage_max", "deployment:vllm_kv_cache_usage:max",
               f"max by (deployment) ({m('vllm:kv_cache_usage_perc')})",
               "ratio", "KV-cache blocks in use, fullest replica (0-1)"),
        Signal("ttft_p50", "deployment:vllm_ttft_seconds:p50",
               _quantile(0.5, "vllm:time_to_first_token_seconds", window, where),
               "s", "time to first token, median"),
        Signal("ttft_p95", "deployment:vllm_ttft_seconds:p95",
               _quantile(0.95, "vllm:time_to_first_token_seconds", window, where),
               "s", "time to first token, 95th percentile"),
        Signal("tpot_p95", "deployment:vllm_tpot_seconds:p95",
               _quantile(0.95, "vllm:request_time_per_output_token_seconds", window, where),
               "s", "time per output token per request, 95th percentile"),
        Signal("e2e_latency_p95", "deployment:vllm_e2e_latency_seconds:p95",
               _quantile(0.95, "vllm:e2e_request_latency_seconds", window, where),
               "s", "end-to-end request latency, 95th percentile"),
        Signal("generation_tokens_rate", "deployment:vllm_generation_tokens:rate",
               f"sum by (deployment) (rate({m('vllm:generation_tokens_total')}[{window}]))",
               "tokens/s", "generated tokens per second"),
        Signal("prompt_tokens_rate", "deployment:vllm_prompt_tokens:rate",
               f"sum by (deployment) (rate({m('vllm:prompt_tokens_total')}[{window}]))",
               "tokens/s", "prompt tokens per second"),
        Signal("preemption_rate", "deployment:vllm_preemptions:rate",
               f"sum by (deployment) (rate({m('vllm:num_preemptions_total')}[{window}]))",
               "1/s", "preemptions per second (KV cache ran out)"),
        Signal("replicas_up", "deployment:vllm_engines_up:sum",
               f"sum by (deployment) ({engines_up})",
               "replicas", "engines answering scrapes"),
        Signal("gpu_utilization", "deployment:gpu_utilization:avg",
               f"avg by (deployment) ({m('DCGM_FI_DEV_GPU_UTIL')}) / 100",
               "ratio", "GPU busy time (DCGM), mean over the deployment's GPUs (0-1)"),
        Signal("gpu_memory_used", "deployment:gpu_memory_used:ratio",
               f"max by (deployment) ({fb_used} / ({fb_used} + {fb_free}))",
               "ratio", "framebuffer in use, fullest GPU of the deployment (0-1)"),
    )


ROUTER_BACKEND_PREFIX = "be_"
"""HAProxy names a deployment's backend ``be_<deployment>`` (:func:`llmstack.artifacts.haproxy.backend_name`);
its exporter labels the backend's series ``proxy``, which the router signals turn into ``deployment``."""
ROUTER_QUEUE_METRICS = ("haproxy_backend_current_queue", "llmstack_router_held_requests")
"""Requests waiting at the router: HAProxy's backend queue (every server at its ``maxconn``) and the
router's hold for a deployment with no server up (:data:`llmstack.artifacts.haproxy_hold.HELD_NOW`;
HAProxy itself answers 503 at once when no server is up)."""
ROUTER_ARRIVAL_METRICS = ("haproxy_backend_http_requests_total", "llmstack_router_held_requests_total")
"""Requests reaching the backend, and requests held for it (:data:`~llmstack.artifacts.haproxy_hold.HELD_TOTAL`):
at zero replicas the second is the only one that moves. A request held and then served counts in both,
so during a wake the rate errs high by the held share (the wake then sizes at most that much larger)."""


def _by_deployment(inner: str) -> str:
    prefix = ROUTER_BACKEND_PREFIX
    return f'sum by (deployment) (label_replace({inner}, "deployment", "$1", "proxy", "{prefix}(.+)"))'


def _backends(metric: str) -> str:
    return f'{metric}{{proxy=~"{ROUTER_BACKEND_PREFIX}.+"}}'


def _router_gauges(metrics: tuple[str, ...]) -> str:
    """The gauges ``metrics`` of every ``be_*`` backend, summed by deployment (one selector keeps the names apart)."""
    return _by_deployment(f'{{__name__=~"{"|".join(metrics)}",proxy=~"{ROUTER_BACKEND_PREFIX}.+"}}')


def _router_rates(first: str, second: str, window: str, function: str = "rate") -> str:
    """The summed rates (``rate`` or ``irate``) of two counters, either of which may have no series yet
    (a rate drops the names, so one selector over both would give two series with one label set)."""
    a = _by_deployment(f"{function}({_backends(first)}[{window}])")
    b = _by_deployment(f"{function}({_backends(second)}[{window}])")
    return f"({a} + {b}) or {a} or {b}"


def router_signals(window: str = RATE_WINDOW) -> tuple[Signal, ...]:
    """What the router (HAProxy's Prometheus exporter and its hold) sees of each deployment: present at zero.

    A deployment scaled to zero exports no vLLM series; these are its wake signal. Summed over the
    router's replicas. Not recording rules: read raw, every cycle.
    """
    return (
        Signal("router_queue_length", "deployment:router_queue:sum", _router_gauges(ROUTER_QUEUE_METRICS),
               "requests", "requests waiting at the router (held with no server up, or every server busy)"),
        Signal("router_request_rate", "deployment:router_requests:rate",
               _router_rates(*ROUTER_ARRIVAL_METRICS, window),
               "req/s", "requests arriving at the router for the deployment, per second"),
        Signal("router_request_irate", "deployment:router_requests:irate",
               _router_rates(*ROUTER_ARRIVAL_METRICS, window, "irate"),
               "req/s", "requests arriving at the router over its last scrape interval (irate): a surge "
                        "shows one scrape after it starts, not a window later"),
    )


def by_name(window: str = RATE_WINDOW, where: str = "") -> dict[str, Signal]:
    """Every signal by name; the router's too unless ``where`` restricts the engine series."""
    router = () if where else router_signals(window)
    return {s.name: s for s in (*signals(window, where), *router)}
