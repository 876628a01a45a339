"""The guards as a chain built from the policy: the order, what a policy leaves out, the first skip ends it,
a shrunk proposal is re-predicted (before the budget guard too)."""

from __future__ import annotations

from llmstack.policy import guards
from llmstack.policy.guards import Guard, GuardContext
from llmstack.policy.recommendation import Prediction, Recommendation, Setting, Skip
from llmstack.policy.rules import from_mapping
from llmstack.policy.state import ScalingState

FULL_ORDER = ("clamp", "tolerance", "stabilization", "step", "cooldown", "rate-limit", "budget")


def rec(current: int, proposed: int, *, kind: str = "horizontal", cost_after: float | None = None,
        deployment: str = "chat") -> Recommendation:
    cur = Setting(current, "awq", "l4", 1)
    new = cur.with_(replicas=proposed) if kind == "horizontal" else cur.with_(pool="h100")
    after = float(proposed) if cost_after is None else cost_after
    return Recommendation(deployment, kind, cur, new, "rule", "slo", {}, "1m", 1.0, "why",  # type: ignore[arg-type]
                          Prediction(None, None, float(current), after, "as proposed"))


def context(*, low: int = 1, high: int = 8, stack_cost: float = 0.0) -> GuardContext:
    return GuardContext(ScalingState(), 1000.0, low, high, scale_in_window=300.0, stack_cost=stack_cost,
                        cost_per_replica=1.0)


class Repredict:
    """A capacity model stand-in: one replica costs 1 $/h (``before``: the current replicas' cost);
    remembers what it was asked."""

    def __init__(self, before: float = 2.0) -> None:
        self.before = before
        self.asked: list[Setting] = []

    def __call__(self, setting: Setting) -> Prediction:
        self.asked.append(setting)
        return Prediction(None, None, self.before, float(setting.replicas), f"re-predicted {setting.replicas}")


def test_chain_lists_the_policys_guards_in_order_with_the_budget_last() -> None:
    chain = guards.chain(from_mapping({}), "chat", budget_limit=20.0)
    assert tuple(g.name for g in chain) == FULL_ORDER
    assert [g.horizontal_only for g in chain] == [True, True, True, True, False, False, False]
    assert [g.reads_prediction for g in chain] == [False] * 6 + [True]


def test_chain_without_a_budget_omits_the_budget_guard() -> None:
    chain = guards.chain(from_mapping({}), "chat", budget_limit=None)
    assert tuple(g.name for g in chain) == FULL_ORDER[:-1]


def test_hold_chain_is_the_chains_cooldown_and_rate_limit() -> None:
    policy = from_mapping({})
    holds = tuple(g.name for g in guards.hold_chain(policy, "chat"))
    assert holds == ("cooldown", "rate-limit")
    assert holds == tuple(g.name for g in guards.chain(policy, "chat", None))[-2:]


def test_chain_takes_each_deployments_own_guard_settings() -> None:
    policy = from_mapping({"guards": {"max_step_up": 4, "max_step_up_ratio": 0},
                           "deployments": {"chat": {"max_step_up": 1, "max_step_up_ratio": 0}}})
    for name, expected in (("chat", 3), ("code", 6)):
        result = guards.run(guards.chain(policy, name, None), rec(2, 7, deployment=name), context(), Repredict())
        assert isinstance(result, Recommendation) and result.proposed.replicas == expected


def test_a_skip_ends_the_chain_before_the_later_guards() -> None:
    reached: list[str] = []

    def remember(r: Recommendation, _c: GuardContext) -> Recommendation:
        reached.append(r.rule)
        return r

    later = Guard("later", remember)
    clamp = guards.chain(from_mapping({}), "chat", None)[0]
    held = guards.run((clamp, later), rec(8, 12), context(high=8), Repredict())
    assert isinstance(held, Skip) and "already at the limit 8" in held.reason
    assert reached == []
    passed = guards.run((clamp, later), rec(2, 4), context(high=8), Repredict())
    assert isinstance(passed, Recommendation) and reached == ["rule"]


def test_horizontal_only_guards_let_an_engine_change_pass() -> None:
    vertical = rec(8, 8, kind="vertical")
    result = guards.run(guards.chain(from_mapping({}), "chat", None), vertical, context(low=8, high=8), Repredict())
    assert result is vertical  # the clamp at 8..8 would refuse a replica change; the cooldown and rate limit pass


def test_run_repredicts_a_shrunk_proposal_and_says_why() -> None:
    policy = from_mapping({"guards": {"max_step_up": 1, "max_step_up_ratio": 0}})
    repredict = Repredict()
    result = guards.run(guards.chain(policy, "chat", None), rec(2, 7), context(), repredict)
    assert isinstance(result, Recommendation) and result.proposed.replicas == 3
    assert repredict.asked == [result.proposed]
    assert result.predicted is not None and result.predicted.text == "re-predicted 3"
    assert result.reason == "why (step limited to +1)"
    unchanged = Repredict()
    kept = guards.run(guards.chain(policy, "chat", None), rec(2, 3), context(), unchanged)
    assert isinstance(kept, Recommendation) and kept.predicted is not None
    assert kept.predicted.text == "as proposed" and unchanged.asked == [] and kept.reason == "why"


def test_run_repredicts_before_the_budget_guard_reads_the_cost() -> None:
    # 2 -> 10 would cost +8 $/h (over the 6.5 $/h limit from 2); the step guard leaves 2 -> 6 (+4 $/h),
    # which fits: judged on the stale prediction, the budget would shrink it again and say so
    repredict = Repredict()
    result = guards.run(guards.chain(from_mapping({}), "chat", budget_limit=6.5), rec(2, 10, cost_after=10.0),
                        context(high=16, stack_cost=2.0), repredict)
    assert isinstance(result, Recommendation) and result.proposed.replicas == 6
    assert result.reason == "why (step limited to +4)"
    assert repredict.asked == [result.proposed]  # once: the budget left the proposal as it was


def test_budget_shrinks_what_the_other_guards_left_and_notes_both() -> None:
    repredict = Repredict()
    result = guards.run(guards.chain(from_mapping({}), "chat", budget_limit=5.0), rec(2, 10, cost_after=10.0),
                        context(high=16, stack_cost=2.0), repredict)
    assert isinstance(result, Recommendation) and result.proposed.replicas == 5
    assert result.reason == "why (step limited to +4; stack budget $5.00/h allows only +3 replica(s))"
    assert [s.replicas for s in repredict.asked] == [6, 5]
