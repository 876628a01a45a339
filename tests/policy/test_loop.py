"""The loop against a real Prometheus (Debian package) scraping fake vLLM replicas every second.

Design note: each scenario starts its own Prometheus on a free loopback port with temporary
storage, so one scenario's rates never leak into another's window. ``now`` is driven
explicitly for the duration rules (stabilization, ``for:``) while the readings come live, so
these scenarios turn the clock-skew check off (Prometheus' real timestamps are years "ahead"
of the driven ``now``); tests/metrics/test_sanity.py checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstack.metrics.reading import MetricsError, PrometheusReader, Sample
from llmstack.policy import loop, starting
from llmstack.policy.audit import AuditLog
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import Setting, settings_of
from llmstack.policy.rules import Policy, load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.policy.servers import (
    EngineExporter,
    PrometheusProcess,
    prometheus_config,
    running_exporters,
    running_prometheus,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture
def policy() -> Policy:
    shipped = load_policy(ROOT / "policies" / "default.yaml")
    return shipped.model_copy(update={"data": shipped.data.model_copy(update={"max_clock_skew": 1e12})})


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[PrometheusProcess, list[EngineExporter]]]:
    """chat: 2 replicas, reasoning: 1 replica; all light until a test sets a load."""
    with running_exporters(3) as exporters:
        for e in exporters:
            e.set(rps=0.5, ttft=0.2, queue=0, running=2, kv=0.2)
        exporters[2].set(rps=0.2, prompt=2000, output=500)
        config = prometheus_config({"chat": [exporters[0].port, exporters[1].port],
                                    "reasoning": [exporters[2].port]})
        with running_prometheus(tmp_path, config) as prom:
            yield prom, exporters


def _ready(prom: PrometheusProcess, rate_at_least: float = 0.0) -> None:
    prom.wait_for('sum by (deployment) (rate(vllm:request_success_total[1m]))',
                  lambda r: len(r) == 2 and all(float(x["value"][1]) > rate_at_least for x in r
                                                if x["metric"]["deployment"] == "chat"))


def test_scale_out_recommended_with_signals_when_load_bursts(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy,
        tmp_path: Path) -> None:
    prom, exporters = fleet
    for e in exporters[:2]:
        e.set(rps=20.0, ttft=2.4, queue=25, running=60, kv=0.6)
    _ready(prom, rate_at_least=2.0)
    audit = AuditLog(tmp_path / "audit.jsonl")
    result, _ = loop.run_once(PrometheusReader(prom.url), stack, policy, ScalingState(), 1000.0, audit=audit)
    chat = [r for r in result.recommendations if r.deployment == "chat"]
    assert len(chat) == 1 and chat[0].kind == "horizontal" and chat[0].proposed.replicas > 2
    assert chat[0].signals["request_rate"] > 2.0
    assert chat[0].rule in {"ttft-slo", "queue-per-replica", "model-based"}
    assert 2.0 < chat[0].signals["ttft_p95"] <= 2.5  # the 2.0-2.5 s histogram bucket
    assert chat[0].signals["queue_length"] == 50
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {e["deployment"] for e in entries} == {"chat", "reasoning"}
    assert any(e["outcome"] == "dry-run" and e["recommendation"]["proposed"]["replicas"] > 2 for e in entries)


def test_scale_in_only_after_stabilization_window(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy) -> None:
    prom, _ = fleet
    _ready(prom)
    source = PrometheusReader(prom.url)
    current = {"chat": Setting(2, "awq", "l4", 1)}
    state = ScalingState()
    window = policy.guards.scale_in_window(CapacityView(stack).startup_s(stack.deployment("chat"), current["chat"]))
    first = None
    for step in range(0, int(window // 15) + 4):
        now = 10_000.0 + step * 15
        result, state = loop.run_once(source, stack, policy, state, now, current=current)
        if any(r.deployment == "chat" for r in result.recommendations):
            first = now - 10_000.0
            rec = next(r for r in result.recommendations if r.deployment == "chat")
            assert rec.proposed.replicas == 1
            break
    assert first is not None and first >= window


def test_vertical_proposal_fits_when_kv_saturated(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy) -> None:
    prom, exporters = fleet
    for e in exporters[:2]:
        e.set(kv=0.99, preempt=2.0, rps=1.0, running=40)
    _ready(prom)
    prom.wait_for("max by (deployment) (vllm:kv_cache_usage_perc)",
                  lambda r: any(float(x["value"][1]) > 0.98 for x in r))
    source = PrometheusReader(prom.url)
    current = {"chat": Setting(8, "awq", "l4", 1)}
    # 8 replicas expected but 2 report: let the data check accept it for this scenario
    relaxed = policy.model_copy(update={"data": policy.data.model_copy(update={"min_completeness": 0.2})})
    state = ScalingState()
    vertical = []
    for step in range(0, 12):
        result, state = loop.run_once(source, stack, relaxed, state, 5000.0 + step * 15, current=current)
        vertical = [r for r in result.recommendations if r.kind == "vertical"]
        if vertical:
            break
    assert vertical
    assert vertical[0].proposed.pool == "h100" or vertical[0].proposed.tensor_parallel > 1
    assert vertical[0].signals["kv_cache_usage_max"] > 0.98


class StopsAfter:
    """A MetricsSource that stops Prometheus after ``n`` queries (a fault mid-cycle)."""

    def __init__(self, reader: PrometheusReader, prom: PrometheusProcess, n: int) -> None:
        self.reader, self.prom, self.n = reader, prom, n

    def query(self, expr: str) -> list[Sample]:
        if self.n == 0:
            self.prom.stop()
        self.n -= 1
        return self.reader.query(expr)


def test_no_action_when_prometheus_stops_mid_cycle(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy,
        tmp_path: Path) -> None:
    prom, exporters = fleet
    for e in exporters[:2]:
        e.set(rps=4.0, ttft=2.4, queue=25)
    _ready(prom)
    audit = AuditLog(tmp_path / "audit.jsonl")
    source = StopsAfter(PrometheusReader(prom.url, timeout_s=2), prom, 3)
    result, _ = loop.run_once(source, stack, policy, ScalingState(), 1.0, audit=audit)
    assert result.recommendations == []
    assert result.warnings and "unreachable" in result.warnings[0]
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {e["outcome"] for e in entries} == {"refused"}
    assert all("unreachable" in e["reason"] for e in entries)
    with pytest.raises(MetricsError):
        PrometheusReader(prom.url, timeout_s=1).query("up")


def test_no_action_when_replicas_stop_reporting(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy) -> None:
    prom, exporters = fleet
    for e in exporters[:2]:
        e.set(rps=4.0, ttft=2.4, queue=25)
    _ready(prom)
    exporters[1].stop()
    prom.wait_for("count by (deployment) (vllm:num_requests_running)",
                  lambda r: any(x["metric"]["deployment"] == "chat" and x["value"][1] == "1" for x in r))
    result, _ = loop.run_once(PrometheusReader(prom.url), stack, policy, ScalingState(), 1.0)
    assert not [r for r in result.recommendations if r.deployment == "chat"]
    assert any("partial data: 1 of 2 replicas" in w for w in result.warnings)


def _scale_out_cycle(source: PrometheusReader, stack: StackSpec, policy: Policy, state: ScalingState, now: float,
                     current: dict[str, Setting]) -> tuple[loop.CycleResult, ScalingState, dict[str, Setting]]:
    """One applied cycle; the settings in force afterwards (what ``watch`` carries)."""
    result, state = loop.run_once(source, stack, policy, state, now, current=current, apply=lambda recs: None)
    after = dict(current)
    for rec in result.recommendations:
        after[rec.deployment] = rec.proposed
    return result, state, after


def test_scale_out_keeps_acting_while_new_replicas_start_and_refuses_when_they_never_report(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy) -> None:
    """After 2 -> N the N - 2 new replicas export nothing (they are starting: image pull, weight load).
    Within the start-up allowance the next cycle acts on the two that serve (the queue grows: it scales
    out further); replicas still silent past 2x the start-up estimate are missing: partial data, refused."""
    prom, exporters = fleet
    for e in exporters[:2]:
        e.set(rps=20.0, ttft=2.4, queue=25, running=60, kv=0.6)
    _ready(prom, rate_at_least=2.0)
    source = PrometheusReader(prom.url)
    current = {name: s for name, s in settings_of(stack).items()}
    first, state, current = _scale_out_cycle(source, stack, policy, ScalingState(), 1000.0, current)
    grown = current["chat"].replicas
    assert first.applied and grown > 2 and state.started_since("chat", 1000.0) == grown - 2

    for e in exporters[:2]:
        e.set(queue=80, ttft=5.0)
    prom.wait_for('sum by (deployment) (vllm:num_requests_waiting{deployment="chat"})',
                  lambda r: bool(r) and float(r[0]["value"][1]) >= 160)
    second, state, current = _scale_out_cycle(source, stack, policy, state, 1020.0, current)
    snap = second.snapshots["chat"]
    assert (snap.replicas_reporting, snap.replicas_expected, snap.replicas_starting) == (2, grown, grown - 2)
    assert not [s for s in second.skips if s.deployment == "chat" and s.refused], second.warnings
    chat = [r for r in second.recommendations if r.deployment == "chat"]
    assert chat and chat[0].proposed.replicas > grown and chat[0].confidence == 1.0

    view = CapacityView(stack)
    late = 1020.0 + starting.allowance_s(view, stack, "chat", current["chat"], policy) + 15.0
    third, _, _ = _scale_out_cycle(source, stack, policy, state, late, current)
    assert not [r for r in third.recommendations if r.deployment == "chat"]
    assert any(f"partial data: 2 of {current['chat'].replicas} replicas report" in w for w in third.warnings), \
        third.warnings


def test_replicas_draining_after_a_scale_in_are_not_stray_targets(
        fleet: tuple[PrometheusProcess, list[EngineExporter]], stack: StackSpec, policy: Policy) -> None:
    """Scale-in 2 -> 1: the stopped replica's pod keeps its scrape target while it drains, so 2 report
    where 1 is expected. Within its stop deadline that is not implausible; past it, it is (stray targets)."""
    prom, _ = fleet
    _ready(prom)
    source = PrometheusReader(prom.url)
    current = {**settings_of(stack), "chat": settings_of(stack)["chat"].with_(replicas=1)}
    state = ScalingState().with_actions([("chat", "in")], 2000.0).with_stopped("chat", 1, 2000.0)
    draining, _ = loop.run_once(source, stack, policy, state, 2015.0, current=current)
    assert draining.snapshots["chat"].replicas_reporting == 2 and not draining.snapshots["chat"].implausible
    assert not [s for s in draining.skips if s.deployment == "chat" and s.refused], draining.warnings
    late = 2000.0 + starting.stop_allowance_s(stack, "chat") + 15.0
    stray, _ = loop.run_once(source, stack, policy, state, late, current=current)
    assert any("2 replicas report but 1 are expected" in w for w in stray.warnings), stray.warnings
