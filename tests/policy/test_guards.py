"""The guards, one at a time: each keeps, shrinks or refuses a recommendation and says why."""

from __future__ import annotations

from llmstack.policy import guards
from llmstack.policy.recommendation import Prediction, Recommendation, Setting, Skip
from llmstack.policy.rules import Guards
from llmstack.policy.state import ScalingState


def rec(current: int, proposed: int, *, kind: str = "horizontal", cost_before: float = 0.0,
        cost_after: float = 0.0) -> Recommendation:
    cur = Setting(current, "awq", "l4", 1)
    new = cur.with_(replicas=proposed) if kind == "horizontal" else cur.with_(pool="h100")
    return Recommendation("chat", kind, cur, new, "rule", "slo", {}, "1m", 1.0, "why",  # type: ignore[arg-type]
                          Prediction(None, None, cost_before, cost_after, ""))


def test_clamp_bounds_the_count_and_refuses_when_already_at_the_limit() -> None:
    clamped = guards.clamp(rec(2, 12), 1, 8)
    assert isinstance(clamped, Recommendation) and clamped.proposed.replicas == 8
    assert "clamped 12 to 1..8" in clamped.notes
    refused = guards.clamp(rec(8, 12), 1, 8)
    assert isinstance(refused, Skip) and "already at the limit 8" in refused.reason


def test_stabilize_keeps_the_highest_count_wanted_in_the_window() -> None:
    state = ScalingState().with_desired("chat", 6, 0.0, 600).with_desired("chat", 4, 200.0, 600)
    held = guards.stabilize(rec(6, 2), state, 300.0, 250.0)  # 6 wanted at t=0, inside the window
    assert isinstance(held, Skip) and "wanted up to 6" in held.reason
    partial = guards.stabilize(rec(6, 2), state, 300.0, 350.0)  # the 6 left the window, the 4 did not
    assert isinstance(partial, Recommendation) and partial.proposed.replicas == 4
    assert guards.stabilize(rec(2, 6), state, 300.0, 250.0).proposed.replicas == 6  # type: ignore[union-attr]


def test_max_step_limits_up_by_count_or_ratio_and_down_by_count() -> None:
    limits = Guards(max_step_up=2, max_step_up_ratio=1.0, max_step_down=1)
    up_small = guards.max_step(rec(1, 10), limits)
    up_large = guards.max_step(rec(6, 20), limits)
    down = guards.max_step(rec(6, 2), limits)
    assert [r.proposed.replicas for r in (up_small, up_large, down)] == [3, 12, 5]  # type: ignore[union-attr]


def test_tolerance_drops_small_changes_only() -> None:
    assert isinstance(guards.tolerance(rec(10, 11), 0.1), Skip)
    assert isinstance(guards.tolerance(rec(10, 12), 0.1), Recommendation)
    assert isinstance(guards.tolerance(rec(0, 1), 0.1), Recommendation)  # from zero any change counts


def test_cooldown_per_kind_of_change() -> None:
    limits = Guards(scale_out_cooldown=60, scale_in_cooldown=300)
    after_out = ScalingState().with_actions([("chat", "out")], 100.0)
    assert isinstance(guards.cooldown(rec(2, 4), after_out, limits, 130.0), Skip)
    assert isinstance(guards.cooldown(rec(2, 4), after_out, limits, 170.0), Recommendation)
    assert isinstance(guards.cooldown(rec(4, 2), after_out, limits, 350.0), Skip)  # any change holds a scale-in
    assert isinstance(guards.cooldown(rec(4, 2), after_out, limits, 401.0), Recommendation)
    vertical = rec(2, 2, kind="vertical")
    assert isinstance(guards.cooldown(vertical, after_out, limits, 130.0, vertical_s=1800), Recommendation)
    after_vertical = ScalingState().with_actions([("chat", "vertical")], 100.0)
    assert isinstance(guards.cooldown(vertical, after_vertical, limits, 1000.0, vertical_s=1800), Skip)


def test_rate_limit_counts_changes_in_the_last_hour() -> None:
    state = ScalingState()
    for t in (0.0, 600.0, 1200.0):
        state = state.with_actions([("chat", "out")], t)
    assert isinstance(guards.rate_limit(rec(2, 4), state, 3, 1300.0), Skip)
    assert isinstance(guards.rate_limit(rec(2, 4), state, 3, 3700.0), Recommendation)  # t=0 left the hour


def test_budget_shrinks_a_scale_out_to_what_fits_or_refuses() -> None:
    out = rec(2, 6, cost_before=2.0, cost_after=6.0)  # 1 $/h per replica
    shrunk = guards.budget(out, spent=10.0, limit=12.5, cost_per_replica=1.0)
    assert isinstance(shrunk, Recommendation) and shrunk.proposed.replicas == 4
    assert isinstance(guards.budget(out, spent=12.0, limit=12.5, cost_per_replica=1.0), Skip)
    assert guards.budget(out, spent=10.0, limit=None, cost_per_replica=1.0) is out
    cheaper = rec(6, 2, cost_before=6.0, cost_after=2.0)
    assert guards.budget(cheaper, spent=100.0, limit=12.5, cost_per_replica=1.0) is cheaper
