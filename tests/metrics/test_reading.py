"""Reading: snapshots from answers (pure), and PrometheusReader against tiny local HTTP servers.

Design note: NaN, stale, partial and slow answers come from :class:`FakePrometheus`, a local
server that answers each query from a function (and can sleep), so every fault is exact.
"""

from __future__ import annotations

import time

import pytest

from llmstack.metrics import queries, reading
from llmstack.metrics.reading import MetricsError, PrometheusReader, Sample
from tests.policy.servers import FakePrometheus, free_port, vector


def answers(now: float, **overrides: dict[str, float | str]) -> dict[str, list[Sample]]:
    base: dict[str, dict[str, float | str]] = {
        "request_rate": {"chat": 2.0}, "queue_length": {"chat": 0}, "running_requests": {"chat": 4},
        "kv_cache_usage": {"chat": 0.3}, "ttft_p95": {"chat": 0.4},
        queries.REPLICAS_REPORTING: {"chat": 2}, queries.OLDEST_SAMPLE: {"chat": now - 5},
    }
    base.update(overrides)
    return {k: reading.parse_vector(vector(v, now)) for k, v in base.items()}


def test_snapshot_complete_when_all_replicas_report() -> None:
    snap = reading.assemble(answers(100.0), {"chat": 2}, 100.0)["chat"]
    assert snap.completeness == 1.0 and not snap.stale and not snap.nan and not snap.missing
    assert snap.values["request_rate"] == 2.0 and snap.oldest_sample_age_s == 5.0


def test_nan_flagged_and_not_read_as_zero() -> None:
    snap = reading.assemble(answers(100.0, kv_cache_usage={"chat": "NaN"}), {"chat": 2}, 100.0)["chat"]
    assert "kv_cache_usage" in snap.nan and "kv_cache_usage" not in snap.values


def test_quantile_nan_accepted_when_idle() -> None:
    snap = reading.assemble(answers(100.0, request_rate={"chat": 0.0}, ttft_p95={"chat": "NaN"}),
                            {"chat": 2}, 100.0)["chat"]
    assert snap.nan == () and "ttft_p95" not in snap.values


def test_stale_when_newest_sample_is_old() -> None:
    snap = reading.assemble(answers(1000.0, **{queries.OLDEST_SAMPLE: {"chat": 100.0}}), {"chat": 2}, 1000.0,
                            stale_after_s=60)["chat"]
    assert snap.stale and snap.oldest_sample_age_s == 900.0


def test_partial_when_replicas_missing() -> None:
    snap = reading.assemble(answers(100.0, **{queries.REPLICAS_REPORTING: {"chat": 1}}), {"chat": 4}, 100.0)["chat"]
    assert snap.completeness == 0.25


def test_replicas_asked_for_recently_are_starting_not_missing() -> None:
    """Scale-out 2 -> 6: four asked for a moment ago export nothing yet; completeness counts the two due."""
    reported = answers(100.0, **{queries.REPLICAS_REPORTING: {"chat": 2}})
    snap = reading.assemble(reported, {"chat": 6}, 100.0, asked={"chat": 4})["chat"]
    assert (snap.replicas_starting, snap.replicas_due, snap.completeness) == (4, 2, 1.0)
    assert snap.coverage == "2 of 2 replicas due report, 4 starting"
    assert snap.to_json()["replicas_starting"] == 4
    assert reading.assemble(reported, {"chat": 6}, 100.0)["chat"].completeness == pytest.approx(2 / 6)


def test_starting_never_hides_an_older_replica_that_went_silent() -> None:
    """One of the two old replicas stops while four start: 1 of 2 due, not 1 of 1."""
    one = answers(100.0, **{queries.REPLICAS_REPORTING: {"chat": 1}})
    snap = reading.assemble(one, {"chat": 6}, 100.0, asked={"chat": 4})["chat"]
    assert (snap.replicas_starting, snap.completeness) == (4, 0.5)
    assert snap.coverage == "1 of 2 replicas due report, 4 starting"
    # more asked than silent (a scale-in cancelled some of them): only the silent ones are starting
    assert reading.starting_of(asked=4, reporting=3, expected=4) == 1
    assert reading.starting_of(asked=4, reporting=6, expected=4) == 0


def test_replicas_draining_after_a_scale_in_may_report_above_the_expected_count() -> None:
    three = answers(100.0, **{queries.REPLICAS_REPORTING: {"chat": 3}})
    assert reading.assemble(three, {"chat": 2}, 100.0, stopping={"chat": 1})["chat"].implausible == ()
    stray = reading.assemble(three, {"chat": 1}, 100.0, stopping={"chat": 1})["chat"].implausible
    assert stray == ("3 replicas report but 1 are expected and 1 draining (stray or duplicated targets)",)


def test_simulators_snapshot_counts_starting_replicas_alike() -> None:
    snap = reading.snapshot_of("chat", 100.0, {"request_rate": 2.0}, 2, 6, asked=4)
    assert (snap.replicas_starting, snap.completeness) == (4, 1.0)
    assert reading.snapshot_of("chat", 100.0, {"request_rate": 2.0}, 2, 6).completeness == pytest.approx(2 / 6)


def test_missing_deployment_has_every_signal_missing() -> None:
    snap = reading.assemble(answers(100.0), {"chat": 2, "other": 1}, 100.0)["other"]
    assert "request_rate" in snap.missing and snap.replicas_reporting == 0


def test_one_request_per_query_for_all_deployments() -> None:
    def answer(expr: str) -> list[dict[str, object]]:
        return vector({f"d{i}": 1.0 for i in range(50)})

    with FakePrometheus(answer) as fake:
        snaps = reading.read_snapshots(PrometheusReader(fake.url), {f"d{i}": 1 for i in range(50)}, time.time())
    assert len(snaps) == 50
    assert len(fake.requests) == len(queries.cycle_queries())


def test_slow_prometheus_raises_metrics_error() -> None:
    with FakePrometheus(lambda e: [], delay_s=1.5) as fake, pytest.raises(MetricsError, match="did not answer"):
        PrometheusReader(fake.url, timeout_s=0.3).query("up")


def test_unreachable_prometheus_raises_metrics_error() -> None:
    with pytest.raises(MetricsError, match="unreachable"):
        PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout_s=1).query("up")


def test_bearer_token_and_basic_auth_sent() -> None:
    with FakePrometheus(lambda e: []) as fake:
        PrometheusReader(fake.url, bearer_token="s3cret").query("up")
        PrometheusReader(fake.url, username="me", password="pw").query("up")
    assert fake.requests[0][1]["Authorization"] == "Bearer s3cret"
    assert fake.requests[1][1]["Authorization"].startswith("Basic ")


def test_tls_verified_by_default() -> None:
    assert PrometheusReader("https://127.0.0.1:1").verify is True
    assert PrometheusReader("https://127.0.0.1:1", verify=False).verify is False
    with pytest.raises(MetricsError, match=r"cannot read the CA bundle /nonexistent/ca\.pem"):
        PrometheusReader("https://127.0.0.1:1", ca_file="/nonexistent/ca.pem")
