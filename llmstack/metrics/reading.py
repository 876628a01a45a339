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
from llmstack.errors import MetricsError
from llmstack.metrics import queries, sanity, urls

QUANTILE_SIGNALS = frozenset({"ttft_p50", "ttft_p95", "tpot_p95", "e2e_latency_p95"})
"""Histogram quantiles are NaN when nothing finished in the window: that is idleness, not bad data."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query answer."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


class MetricsSource(Protocol):
    """Anything that evaluates an instant PromQL query."""

    def query(self, expr: str) -> list[Sample]: ...


@dataclass(frozen=True)
class Series:
    """One series of a range-query answer: (timestamp, value) points in time order."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class RangeSource(Protocol):
    """Anything that evaluates a PromQL range query (``/api/v1/query_range``)."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]: ...


def _result(body: Any, where: str, kind: str) -> list[Any]:
    """The ``data.result`` list of a decoded answer of ``resultType`` ``kind``; anything else raises (pure)."""
    if not isinstance(body, dict):
        raise MetricsError(f"Prometheus at {where} answered {type(body).__name__}, not a JSON object")
    if body.get("status") != "success":
        detail = body.get("error") or body.get("status") or "no status"
        raise MetricsError(f"Prometheus at {where} refused the query: {str(detail)[:200]}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise MetricsError(f"Prometheus at {where} answered success without a `data` object")
    if data.get("resultType") != kind:
        raise MetricsError(f"Prometheus at {where} answered resultType {data.get('resultType')!r}, not a {kind}")
    result = data.get("result")
    if not isinstance(result, list):
        raise MetricsError(f"Prometheus at {where} answered a {kind} whose result is {type(result).__name__}")
    return result


def parse_answer(body: Any, where: str) -> list[Sample]:
    """Samples of a decoded ``/api/v1/query`` answer; anything but a well-formed vector raises (pure)."""
    return parse_vector(_result(body, where, "vector"), f"Prometheus at {where}")


def parse_matrix_answer(body: Any, where: str) -> list[Series]:
    """Series of a decoded ``/api/v1/query_range`` answer; anything but a well-formed matrix raises (pure)."""
    out: list[Series] = []
    for item in _result(body, where, "matrix"):
        try:
            labels = item.get("metric", {})
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise TypeError("labels are not a mapping of strings")
            points = tuple((float(ts), float(raw)) for ts, raw in item["values"] if isinstance(raw, str))
            out.append(Series(dict(labels), points))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise MetricsError(f"Prometheus at {where} answered an unexpected matrix item {str(item)[:200]}: "
                               f"{exc}") from exc
    return out


def parse_vector(result: Iterable[Any], where: str = "Prometheus") -> list[Sample]:
    """Samples from the ``data.result`` list of an instant vector answer (pure)."""
    out: list[Sample] = []
    for item in result:
        try:
            ts, raw = item["value"]
            labels = item.get("metric", {})
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise TypeError("labels are not a mapping of strings")
            if not isinstance(raw, str) or isinstance(ts, bool) or not math.isfinite(float(ts)):
                raise TypeError("a sample is [finite timestamp, \"value\"]")
            out.append(Sample(dict(labels), float(raw), float(ts)))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise MetricsError(f"{where} answered an unexpected vector item {str(item)[:200]}: {exc}") from exc
    return out


class PrometheusReader:
    """:class:`MetricsSource` speaking Prometheus' HTTP API (``GET /api/v1/query``) with httpx.

    TLS certificates are verified by default (``verify=False`` turns it off, ``ca_file``
    names a custom CA bundle); ``username``/``password`` (or credentials in the URL) give
    basic auth, ``bearer_token`` an ``Authorization: Bearer`` header. Every failure (no
    connection, timeout, an HTTP error status, a body that is not the documented JSON)
    raises :class:`MetricsError` naming the URL without its credentials. No retries: a cycle
    that cannot read is refused, and the next cycle tries again.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0, username: str | None = None,
                 password: str | None = None, bearer_token: str | None = None, verify: bool = True,
                 ca_file: str | Path | None = None) -> None:
        import httpx

        base, url_user, url_password = urls.split_credentials(url.rstrip("/"))
        self.url = urls.redact(url.rstrip("/"))
        self.timeout_s = timeout_s
        self.verify: bool | str = str(ca_file) if (verify and ca_file is not None) else verify
        user = username if username is not None else url_user
        auth = (user, password if password is not None else (url_password or "")) if user is not None else None
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self._client = httpx.Client(base_url=base, auth=auth, headers=headers, timeout=timeout_s,
                                    verify=self._ssl(), follow_redirects=False, trust_env=False)

    def _ssl(self) -> Any:
        if not isinstance(self.verify, str):
            return self.verify
        import ssl

        try:
            return ssl.create_default_context(cafile=self.verify)
        except (OSError, ssl.SSLError) as exc:
            raise MetricsError(f"cannot read the CA bundle {self.verify}: {exc}", path="ca_file") from exc

    def query(self, expr: str) -> list[Sample]:
        return parse_answer(self._get("/api/v1/query", {"query": expr}), self.url)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """``expr`` evaluated every ``step`` seconds from ``start`` to ``end`` (Unix seconds)."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return parse_matrix_answer(self._get("/api/v1/query_range", params), self.url)

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        """The decoded JSON answer of ``GET path``; transport faults and HTTP errors raise."""
        import httpx

        try:
            response = self._client.get(path, params=dict(params))
        except httpx.TimeoutException as exc:
            raise MetricsError(f"Prometheus at {self.url} did not answer within {self.timeout_s:g} s",
                               hint="check its load or raise the timeout") from exc
        except httpx.ConnectError as exc:
            if "SSL" in str(exc) or "certificate" in str(exc):
                raise MetricsError(f"TLS verification of {self.url} failed: {exc}",
                                   hint="give the CA bundle that signed its certificate") from exc
            raise MetricsError(f"Prometheus at {self.url} is unreachable",
                               hint="check the Prometheus URL and that Prometheus runs") from exc
        except httpx.HTTPError as exc:
            raise MetricsError(f"Prometheus at {self.url} failed: {type(exc).__name__}: {exc}") from exc
        return self._body(response)

    def _body(self, response: Any) -> Any:
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        if response.status_code != 200:
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise MetricsError(f"Prometheus at {self.url} answered HTTP {response.status_code}: {detail}")
        if body is None:
            raise MetricsError(f"Prometheus at {self.url} sent an answer that is not JSON")
        return body

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class SignalSnapshot:
    """What one deployment's signals read in one cycle, with how far they can be trusted.

    ``values`` holds only finite readings; ``nan``/``missing`` list the signals that had none.
    ``completeness`` is replicas reporting over the replicas *due* to report (capped at 1): those
    expected less those still starting (:func:`starting_of`). A replica asked for a moment ago
    exports nothing until its engine serves (pod start, image pull, weight load: minutes), so
    counting it as missing would refuse every cycle of a scale-out, exactly while a burst is under
    way. Who counts as starting is the caller's to say: the policy engine knows when it asked for
    replicas and the capacity model how long they take (:mod:`llmstack.policy.starting`).
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
    implausible: tuple[str, ...] = ()
    """Why the reading is physically impossible (future timestamps, negatives, ...): never acted on."""
    replicas_starting: int = 0
    """Expected replicas not reporting yet that were asked for within their start-up allowance."""

    @property
    def replicas_due(self) -> int:
        """Replicas that should report by now: expected less those still starting."""
        return max(0, self.replicas_expected - self.replicas_starting)

    @property
    def completeness(self) -> float:
        if self.replicas_due <= 0:
            return 1.0  # nothing is due yet: nothing is missing (the signals' own checks still apply)
        return min(1.0, self.replicas_reporting / self.replicas_due)

    @property
    def coverage(self) -> str:
        """Who reports, in words: ``2 of 2 replicas due report, 4 starting``."""
        reporting, due, starting = self.replicas_reporting, self.replicas_due, self.replicas_starting
        return f"{reporting} of {due} replicas due report, {starting} starting" if starting else \
            f"{reporting} of {due} replicas report"

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "timestamp": self.timestamp, "window": self.window,
            "values": dict(self.values), "replicas_reporting": self.replicas_reporting,
            "replicas_expected": self.replicas_expected, "replicas_starting": self.replicas_starting,
            "completeness": round(self.completeness, 4),
            "oldest_sample_age_s": self.oldest_sample_age_s, "nan": list(self.nan),
            "missing": list(self.missing), "stale": self.stale, "error": self.error,
            "implausible": list(self.implausible),
        }


def starting_of(asked: int, reporting: int, expected: int) -> int:
    """Replicas counted as starting: of the ``asked`` ones (asked for within their start-up
    allowance), those the silent ones can be. Never more than the expected replicas that do not report,
    so a replica that stopped reporting among older ones is still missing."""
    return max(0, min(asked, expected - reporting))


def failed_snapshots(expected: Mapping[str, int], now: float, error: str,
                     window: str = catalog.RATE_WINDOW) -> dict[str, SignalSnapshot]:
    """Snapshots for a cycle whose reading failed: every signal missing, ``error`` says why."""
    return {name: SignalSnapshot(name, now, window, {}, 0, count, error=error) for name, count in expected.items()}


@dataclass
class _Grouped:
    """One deployment's raw readings of a cycle, before they are judged."""

    raw: dict[str, float] = field(default_factory=dict)
    timestamps: list[float] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _group(answers: Mapping[str, list[Sample]], expected: Mapping[str, int]) -> dict[str, _Grouped]:
    label = catalog.DEPLOYMENT_LABEL
    per = {name: _Grouped() for name in expected}
    for name, samples in answers.items():
        for sample in samples:
            group = per.get(sample.labels.get(label, ""))
            if group is None:
                continue
            if name in group.raw:
                group.duplicates.append(name)
            group.raw[name] = sample.value
            group.timestamps.append(sample.timestamp)
    return per


def _split(raw: Mapping[str, float], signal_names: Iterable[str]) -> tuple[dict[str, float], list[str], list[str]]:
    """Finite values, the NaN/Inf signals (idle quantiles excepted) and the missing ones."""
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
    return values, nan, missing


def assemble(answers: Mapping[str, list[Sample]], expected: Mapping[str, int], now: float, *,
             window: str = catalog.RATE_WINDOW, stale_after_s: float = 60.0, max_skew_s: float = 30.0,
             asked: Mapping[str, int] | None = None,
             stopping: Mapping[str, int] | None = None) -> dict[str, SignalSnapshot]:
    """Group the answers of one cycle by deployment into snapshots, judging each (pure).

    ``answers`` maps query name (signal or meta) to its samples; ``expected`` maps each
    deployment the stack declares to the replicas it should have running, ``asked`` to those of
    them asked for recently enough to be still starting (:func:`starting_of`; absent: none),
    ``stopping`` to the replicas asked to stop recently enough to still drain (and report). What
    no real fleet reports (:mod:`llmstack.metrics.sanity`) lands in ``implausible``.
    """
    signal_names = [n for n in answers if n not in (queries.REPLICAS_REPORTING, queries.OLDEST_SAMPLE)]
    out: dict[str, SignalSnapshot] = {}
    for deployment, group in _group(answers, expected).items():
        values, nan, missing = _split(group.raw, signal_names)
        reporting = group.raw.get(queries.REPLICAS_REPORTING)
        oldest = group.raw.get(queries.OLDEST_SAMPLE)
        age = None if oldest is None or not math.isfinite(oldest) else max(0.0, now - oldest)
        implausible = (sanity.time_problems(group.timestamps, oldest, now, max_skew_s)
                       + sanity.duplicate_problems(group.duplicates)
                       + sanity.replica_problems(reporting, expected[deployment],
                                                 (stopping or {}).get(deployment, 0))
                       + sanity.value_problems(values, expected[deployment]))
        count = int(reporting) if reporting is not None and math.isfinite(reporting) else 0
        out[deployment] = SignalSnapshot(
            deployment=deployment, timestamp=now, window=window, values=values, replicas_reporting=count,
            replicas_expected=expected[deployment], oldest_sample_age_s=age, nan=tuple(nan),
            missing=tuple(missing), stale=age is not None and age > stale_after_s, implausible=tuple(implausible),
            replicas_starting=starting_of((asked or {}).get(deployment, 0), count, expected[deployment]),
        )
    return out


def snapshot_of(deployment: str, now: float, raw: Mapping[str, float], replicas_reporting: int,
                replicas_expected: int, *, window: str = catalog.RATE_WINDOW,
                signal_names: Iterable[str] | None = None, asked: int = 0) -> SignalSnapshot:
    """A snapshot of readings taken elsewhere (the simulator's): the same split into values, NaN and
    missing signals as a Prometheus cycle (:func:`assemble`), the same value checks and the same
    completeness (``asked``: as in :func:`assemble`), so ``required_signals``, the implausible-data
    and the partial-data refusals act on it alike. ``signal_names``: the signals the cycle asks for
    (default: every catalog signal)."""
    names = list(signal_names) if signal_names is not None else list(catalog.by_name(window))
    values, nan, missing = _split(raw, names)
    return SignalSnapshot(
        deployment=deployment, timestamp=now, window=window, values=values, replicas_reporting=replicas_reporting,
        replicas_expected=replicas_expected, oldest_sample_age_s=0.0, nan=tuple(nan), missing=tuple(missing),
        implausible=tuple(sanity.value_problems(values, replicas_expected)),
        replicas_starting=starting_of(asked, replicas_reporting, replicas_expected))


def read_snapshots(source: MetricsSource, expected: Mapping[str, int], now: float, *,
                   signal_names: Iterable[str] | None = None, recording_rules: bool = False,
                   window: str = catalog.RATE_WINDOW, stale_after_s: float = 60.0,
                   max_skew_s: float = 30.0, asked: Mapping[str, int] | None = None,
                   stopping: Mapping[str, int] | None = None) -> dict[str, SignalSnapshot]:
    """One read cycle: one query per signal for every deployment; raises :class:`MetricsError`.

    ``asked``/``stopping``: per deployment, the replicas asked for within their start-up allowance and
    those asked to stop within their stop deadline (:func:`assemble`).
    """
    answers = {q.name: source.query(q.expr)
               for q in queries.cycle_queries(signal_names, recording_rules=recording_rules, window=window)}
    return assemble(answers, expected, now, window=window, stale_after_s=stale_after_s, max_skew_s=max_skew_s,
                    asked=asked, stopping=stopping)
