"""Fetch the signals from Prometheus and assemble one snapshot per deployment (edge).

``MetricsSource`` is the small protocol the rest of the engine depends on: Prometheus
(:class:`PrometheusReader`), the simulator or a test fake. :func:`read_snapshots` runs one
query per signal for all deployments and marks every value that cannot be trusted:
NaN/Inf, a stale newest sample, missing signals, fewer replicas reporting than expected.
A value that is absent stays absent: nothing downstream reads it as zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from llmstack.catalog import signals as catalog
from llmstack.errors import LlmstackError
from llmstack.metrics import queries

QUANTILE_SIGNALS = frozenset({"ttft_p50", "ttft_p95", "tpot_p95", "e2e_latency_p95"})
"""Histogram quantiles are NaN when nothing finished in the window: that is idleness, not bad data."""


class MetricsError(LlmstackError):
    """Prometheus could not answer: unreachable, too slow, refused, or an unparseable answer."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query answer."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


class MetricsSource(Protocol):
    """Anything that evaluates an instant PromQL query."""

    def query(self, expr: str) -> list[Sample]: ...


def parse_vector(result: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """Samples from the ``data.result`` list of an instant vector answer (pure)."""
    out: list[Sample] = []
    for item in result:
        try:
            ts, raw = item["value"]
            out.append(Sample(dict(item.get("metric", {})), float(raw), float(ts)))
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsError(f"unexpected Prometheus answer item {item!r}") from exc
    return out


class PrometheusReader:
    """:class:`MetricsSource` over prometheus-api-client's ``PrometheusConnect``.

    TLS certificates are verified by default (``verify=False`` turns it off, ``ca_file``
    names a custom CA bundle); ``username``/``password`` give basic auth, ``bearer_token``
    an ``Authorization: Bearer`` header. No retries: a cycle that cannot read is refused,
    and the next cycle tries again.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0, username: str | None = None,
                 password: str | None = None, bearer_token: str | None = None, verify: bool = True,
                 ca_file: str | Path | None = None) -> None:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        session = requests.Session()
        session.verify = str(ca_file) if (verify and ca_file is not None) else verify
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else None
        auth = (username, password or "") if username is not None else None
        self._client = PrometheusConnect(url=self.url, headers=headers, disable_ssl=not verify,
                                         retry=Retry(total=0), auth=auth, session=session)
        self._client._session.verify = session.verify

    def query(self, expr: str) -> list[Sample]:
        import requests
        from prometheus_api_client import PrometheusApiClientException

        try:
            result = self._client.custom_query(expr, timeout=self.timeout_s)  # type: ignore[arg-type]
        except requests.Timeout as exc:
            raise MetricsError(f"Prometheus at {self.url} did not answer within {self.timeout_s:g} s",
                               hint="check its load or raise --timeout") from exc
        except requests.exceptions.SSLError as exc:
            raise MetricsError(f"TLS verification of {self.url} failed: {exc}",
                               hint="pass --ca-file with the CA that signed it") from exc
        except requests.ConnectionError as exc:
            if "timed out" in str(exc):  # with retries off, urllib3 reports read timeouts this way
                raise MetricsError(f"Prometheus at {self.url} did not answer within {self.timeout_s:g} s",
                                   hint="check its load or raise --timeout") from exc
            raise MetricsError(f"Prometheus at {self.url} is unreachable",
                               hint="check --prometheus and that Prometheus runs") from exc
        except PrometheusApiClientException as exc:
            raise MetricsError(f"Prometheus at {self.url} refused the query: {exc}") from exc
        except ValueError as exc:
            raise MetricsError(f"Prometheus at {self.url} sent an answer that is not JSON") from exc
        return parse_vector(result)


@dataclass(frozen=True)
class SignalSnapshot:
    """What one deployment's signals read in one cycle, with how far they can be trusted.

    ``values`` holds only finite readings; ``nan``/``missing`` list the signals that had none.
    ``completeness`` is replicas reporting over replicas expected (capped at 1).
    """

    deployment: str
    timestamp: float
    window: str
    values: Mapping[str, float]
    replicas_reporting: int
    replicas_expected: int
    oldest_sample_age_s: float | None = None
    nan: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    stale: bool = False
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def completeness(self) -> float:
        if self.replicas_expected <= 0:
            return 1.0
        return min(1.0, self.replicas_reporting / self.replicas_expected)

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "timestamp": self.timestamp, "window": self.window,
            "values": dict(self.values), "replicas_reporting": self.replicas_reporting,
            "replicas_expected": self.replicas_expected, "completeness": round(self.completeness, 4),
            "oldest_sample_age_s": self.oldest_sample_age_s, "nan": list(self.nan),
            "missing": list(self.missing), "stale": self.stale, "error": self.error,
        }


def failed_snapshots(expected: Mapping[str, int], now: float, error: str,
                     window: str = catalog.RATE_WINDOW) -> dict[str, SignalSnapshot]:
    """Snapshots for a cycle whose reading failed: every signal missing, ``error`` says why."""
    return {name: SignalSnapshot(name, now, window, {}, 0, count, error=error) for name, count in expected.items()}


def assemble(answers: Mapping[str, list[Sample]], expected: Mapping[str, int], now: float, *,
             window: str = catalog.RATE_WINDOW, stale_after_s: float = 60.0) -> dict[str, SignalSnapshot]:
    """Group the answers of one cycle by deployment into snapshots (pure).

    ``answers`` maps query name (signal or meta) to its samples; ``expected`` maps each
    deployment the stack declares to the replicas it should have running.
    """
    label = catalog.DEPLOYMENT_LABEL
    per: dict[str, dict[str, float]] = {name: {} for name in expected}
    for name, samples in answers.items():
        for sample in samples:
            deployment = sample.labels.get(label)
            if deployment in per:
                per[deployment][name] = sample.value
    signal_names = [n for n in answers if n not in (queries.REPLICAS_REPORTING, queries.OLDEST_SAMPLE)]
    out: dict[str, SignalSnapshot] = {}
    for deployment, raw in per.items():
        values: dict[str, float] = {}
        nan: list[str] = []
        missing: list[str] = []
        idle = raw.get("request_rate") == 0.0
        for name in signal_names:
            if name not in raw:
                missing.append(name)
            elif not math.isfinite(raw[name]):
                if not (idle and name in QUANTILE_SIGNALS and math.isnan(raw[name])):
                    nan.append(name)
            else:
                values[name] = raw[name]
        reporting = raw.get(queries.REPLICAS_REPORTING)
        oldest = raw.get(queries.OLDEST_SAMPLE)
        age = None if oldest is None or not math.isfinite(oldest) else max(0.0, now - oldest)
        out[deployment] = SignalSnapshot(
            deployment=deployment, timestamp=now, window=window, values=values,
            replicas_reporting=int(reporting) if reporting is not None and math.isfinite(reporting) else 0,
            replicas_expected=expected[deployment], oldest_sample_age_s=age, nan=tuple(nan),
            missing=tuple(missing), stale=age is not None and age > stale_after_s,
        )
    return out


def read_snapshots(source: MetricsSource, expected: Mapping[str, int], now: float, *,
                   signal_names: Iterable[str] | None = None, recording_rules: bool = False,
                   window: str = catalog.RATE_WINDOW, stale_after_s: float = 60.0) -> dict[str, SignalSnapshot]:
    """One read cycle: one query per signal for every deployment; raises :class:`MetricsError`."""
    answers = {q.name: source.query(q.expr)
               for q in queries.cycle_queries(signal_names, recording_rules=recording_rules, window=window)}
    return assemble(answers, expected, now, window=window, stale_after_s=stale_after_s)
