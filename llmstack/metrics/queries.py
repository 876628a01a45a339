"""The PromQL of one read cycle: one expression per signal, each grouped by deployment.

Pure: builds strings from :mod:`llmstack.catalog.signals` (the engines' signals and the router's,
the wake signal of a deployment scaled to zero). Two extra expressions carry the
data-quality facts the policy engine needs: how many engine replicas report
(``replicas_reporting``) and the age of the oldest replica's newest sample
(``oldest_sample``), both ``by (deployment)``. Each query answers for every deployment at
once, so a cycle costs ``len(queries())`` HTTP requests however many deployments exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llmstack.catalog import signals as catalog

REPLICAS_REPORTING = "replicas_reporting"
OLDEST_SAMPLE = "oldest_sample"
PRESENCE_METRIC = "vllm:num_requests_running"
"""A gauge every vLLM engine exports on every scrape: its series count is the replicas that report."""

CORE_SIGNALS: tuple[str, ...] = (
    "request_rate", "queue_length", "running_requests", "kv_cache_usage", "kv_cache_usage_max",
    "ttft_p95", "tpot_p95", "generation_tokens_rate", "prompt_tokens_rate", "preemption_rate",
)
"""The signals the shipped rules read (GPU and e2e signals are optional extras)."""


@dataclass(frozen=True)
class SignalQuery:
    """One expression of a cycle: ``name`` is a signal name or one of the meta names above."""

    name: str
    expr: str
    window: str | None


def signal_queries(names: Iterable[str] | None = None, *, recording_rules: bool = False,
                   window: str = catalog.RATE_WINDOW) -> list[SignalQuery]:
    """The queries of ``names`` (default: every catalog signal), raw expressions or recording-rule names.

    Recording rules are only used for the catalog's default window, the one they were generated with.
    """
    known = catalog.by_name(window)
    recorded = {s.name for s in catalog.signals()}  # the router's signals have no recording rule
    wanted = list(known) if names is None else list(names)
    use_records = recording_rules and window == catalog.RATE_WINDOW
    out: list[SignalQuery] = []
    for name in wanted:
        signal = known[name]
        out.append(SignalQuery(name, signal.record if use_records and name in recorded else signal.expr, window))
    return out


def meta_queries() -> list[SignalQuery]:
    """Replica count and freshness per deployment."""
    label = catalog.DEPLOYMENT_LABEL
    return [
        SignalQuery(REPLICAS_REPORTING, f"count by ({label}) ({PRESENCE_METRIC})", None),
        SignalQuery(OLDEST_SAMPLE, f"min by ({label}) (timestamp({PRESENCE_METRIC}))", None),
    ]


def cycle_queries(names: Iterable[str] | None = None, *, recording_rules: bool = False,
                  window: str = catalog.RATE_WINDOW) -> list[SignalQuery]:
    """Everything one read cycle asks: the signals plus the meta queries."""
    return signal_queries(names, recording_rules=recording_rules, window=window) + meta_queries()


def for_deployment(expr: str, deployment: str) -> str:
    """``expr`` restricted to one deployment (used only to benchmark the per-deployment way)."""
    selector = f'{catalog.DEPLOYMENT_LABEL}="{deployment}"'
    out = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch == "{":
            end = expr.index("}", i)
            inner = expr[i + 1:end]
            out.append("{" + (inner + "," if inner else "") + selector + "}")
            i = end + 1
            continue
        out.append(ch)
        if (ch.isalnum() or ch in "_:") and (i + 1 == len(expr) or not (expr[i + 1].isalnum() or expr[i + 1] in "_:{")):
            word_start = i
            while word_start > 0 and (expr[word_start - 1].isalnum() or expr[word_start - 1] in "_:"):
                word_start -= 1
            word = expr[word_start:i + 1]
            if ":" in word or word.startswith("DCGM_") or word == "up":
                nxt = expr[i + 1:i + 2]
                if nxt != "{" and nxt != "(":
                    out.append("{" + selector + "}")
        i += 1
    return "".join(out)
