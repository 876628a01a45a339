"""The scaling state: how long conditions hold, the desired history, applied changes, and its JSON form."""

from __future__ import annotations

import json

from llmstack.policy.state import ScalingState, change_kinds


def test_conditions_hold_from_when_they_start_until_they_stop() -> None:
    state = ScalingState().with_conditions("chat", {"kv": True, "pressure": False}, 100.0)
    state = state.with_conditions("chat", {"kv": True, "pressure": True}, 160.0)
    assert state.held_for("chat", "kv", 190.0) == 90.0
    assert state.held_for("chat", "pressure", 190.0) == 30.0
    state = state.with_conditions("chat", {"kv": False}, 200.0)
    assert state.held_for("chat", "kv", 300.0) == 0.0
    assert state.held_for("other", "pressure", 300.0) == 0.0


def test_forget_conditions_is_per_deployment() -> None:
    state = ScalingState().with_conditions("chat", {"kv": True}, 0.0).with_conditions("chat-2", {"kv": True}, 0.0)
    forgotten = state.forget_conditions("chat")
    assert forgotten.held_for("chat", "kv", 50.0) == 0.0 and forgotten.held_for("chat-2", "kv", 50.0) == 50.0


def test_desired_history_keeps_only_the_window() -> None:
    state = ScalingState()
    for t, n in ((0.0, 6), (100.0, 5), (400.0, 3)):
        state = state.with_desired("chat", n, t, keep_s=300.0)
    assert state.desired["chat"] == ((100.0, 5), (400.0, 3))


def test_actions_record_last_change_by_kind_and_the_last_hour() -> None:
    state = ScalingState().with_actions([("chat", "out")], 0.0).with_actions([("chat", "vertical")], 4000.0)
    assert state.last("chat", "out") == 0.0 and state.last("chat", "vertical") == 4000.0
    assert state.last("chat", "any") == 4000.0 and state.last("chat", "in") is None
    assert state.actions["chat"] == (4000.0,)  # the change at t=0 is more than an hour old


def test_started_replicas_are_counted_since_a_time() -> None:
    state = ScalingState().with_started("chat", 4, 100.0).with_started("chat", 2, 130.0).with_started("chat", 0, 140.0)
    assert state.started_since("chat", 100.0) == 6 and state.started_since("chat", 101.0) == 2
    assert state.started_since("other", 0.0) == 0
    later = state.with_started("chat", 1, 3701.0).started["chat"]
    assert later == ((130.0, 2), (3701.0, 1))  # the last hour is kept


def test_json_round_trip_survives_a_file() -> None:
    state = (ScalingState().with_conditions("chat", {"kv": True}, 10.0).with_desired("chat", 4, 20.0, 300.0)
             .with_actions([("chat", "in")], 30.0).with_started("chat", 3, 40.0).with_stopped("chat", 1, 50.0)
             .with_serving("chat", 55.0, 2, 660.0, running=7.0))
    again = ScalingState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state


def test_serving_history_answers_the_fewest_replicas_and_the_oldest_batch_since_a_time() -> None:
    state = ScalingState()
    for t, up, running in ((0.0, 1, 2.0), (15.0, 1, 30.0), (30.0, 4, 40.0), (45.0, 4, 12.0)):
        state = state.with_serving("chat", t, up, 60.0, running=running)
    assert state.fewest_serving("chat", 10.0) == 1 and state.fewest_serving("chat", 20.0) == 4
    assert state.running_since("chat", 10.0) == (15.0, 30.0)
    assert state.fewest_serving("chat", 50.0) is None and state.running_since("other", 0.0) is None
    assert state.with_serving("chat", 70.0, 4, 60.0).serving["chat"][0][0] == 15.0  # older than 60 s: dropped


def test_change_kinds() -> None:
    assert [change_kinds("horizontal", 2, 4), change_kinds("horizontal", 4, 2), change_kinds("vertical", 2, 2),
            change_kinds("variant", 2, 2)] == ["out", "in", "vertical", "variant"]
