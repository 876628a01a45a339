"""Signal sanity: readings no real fleet produces are refused with a reason, never acted on.

Design note: each case is a good cycle (``answers`` of test_reading) with one reading made
impossible; the snapshot must name it in ``implausible`` and ``deciding.evaluate`` must refuse
that deployment with the reason and recommend nothing for it. The capacity-relative checks (a
rate far above what the fleet serves, more running than its engines admit) live in the policy
engine and are checked through ``evaluate`` with hand-built snapshots.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmstack.metrics import queries, reading
from llmstack.policy import deciding
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.metrics.test_reading import answers

NOW = 10_000.0


@pytest.mark.parametrize(("overrides", "reason"), [
    pytest.param({queries.OLDEST_SAMPLE: {"chat": NOW + 3600}}, "in the future", id="samples-an-hour-ahead"),
    pytest.param({"queue_length": {"chat": 1e300}}, "queue_length 1e+300 is above", id="queue-1e300"),
    pytest.param({"request_rate": {"chat": -2.0}}, "request_rate is negative", id="negative-rate"),
    pytest.param({"running_requests": {"chat": -1}}, "running_requests is negative", id="negative-running"),
    pytest.param({"kv_cache_usage": {"chat": 3.0}}, "above 1 (a fraction)", id="kv-usage-300-percent"),
    pytest.param({"ttft_p95": {"chat": 1e9}}, "ttft_p95 1e+09 is above", id="ttft-31-years"),
    pytest.param({queries.REPLICAS_REPORTING: {"chat": 7}}, "7 replicas report but 2", id="more-replicas"),
    pytest.param({queries.REPLICAS_REPORTING: {"chat": 1.5}}, "not a whole number", id="fractional-replicas"),
])
def test_impossible_reading_refused_with_reason(overrides: dict[str, Any], reason: str) -> None:
    snap = reading.assemble(answers(NOW, **overrides), {"chat": 2}, NOW)["chat"]
    assert any(reason in why for why in snap.implausible), snap.implausible
    _refused(snap, reason)


def test_answer_evaluated_in_our_future_is_clock_skew() -> None:
    ahead = answers(NOW + 600)
    snap = reading.assemble(ahead, {"chat": 2}, NOW)["chat"]
    assert any("clock skew" in why for why in snap.implausible)


def test_duplicated_series_refused() -> None:
    raw = answers(NOW)
    raw["request_rate"] = raw["request_rate"] * 2
    snap = reading.assemble(raw, {"chat": 2}, NOW)["chat"]
    assert snap.implausible == ("more than one series for request_rate",)


def test_good_cycle_is_plausible() -> None:
    assert reading.assemble(answers(NOW), {"chat": 2}, NOW)["chat"].implausible == ()


@pytest.mark.parametrize(("values", "reason"), [
    pytest.param({"request_rate": 1e6}, "over 100x what 2 replica(s) serve", id="rate-1e6"),
    pytest.param({"running_requests": 1e4}, "over twice what 2 engine(s) admit", id="running-1e4"),
])
def test_reading_beyond_the_fleet_refused(values: dict[str, float], reason: str) -> None:
    base = {"request_rate": 2.0, "queue_length": 0.0, "running_requests": 4.0, "kv_cache_usage": 0.3,
            "ttft_p95": 0.4, **values}
    _refused(reading.SignalSnapshot("chat", NOW, "1m", base, 2, 2, 1.0), reason)


def _refused(snap: reading.SignalSnapshot, reason: str) -> None:
    stack = load_spec(EXAMPLE_SPEC)
    policy = load_policy(ROOT / "policies" / "default.yaml")
    result = deciding.evaluate({"chat": snap}, ScalingState(), policy, stack, NOW)
    assert not [r for r in result.recommendations if r.deployment == "chat"]
    refusals = [s for s in result.skips if s.deployment == "chat" and s.refused]
    assert refusals and "implausible data" in refusals[0].reason and reason in refusals[0].reason
