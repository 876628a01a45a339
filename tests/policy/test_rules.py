"""Policy files: durations, defaults, merging in order, per-deployment guards, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstack.errors import LlmstackError
from llmstack.policy.rules import from_mapping, load_policy, parse_duration
from tests.conftest import ROOT


@pytest.mark.parametrize(("raw", "seconds"), [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0),
                                              ("250ms", 0.25), (" 2.5m ", 150.0)])
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["5 minutes", -1, True, "m", None])
def test_bad_durations_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_files_merge_in_order_and_lists_are_replaced(tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("guards: {scale_out_cooldown: 2m}\n"
                        "horizontal: {target_tracking: [{name: q, signal: queue_length, target: 8}]}\n")
    base = load_policy(ROOT / "policies" / "default.yaml")
    merged = load_policy([ROOT / "policies" / "default.yaml", override])
    assert merged.guards.scale_out_cooldown == 120.0
    assert merged.guards.scale_in_cooldown == base.guards.scale_in_cooldown  # untouched keys stay
    assert [t.name for t in merged.horizontal.target_tracking] == ["q"]
    assert merged.horizontal.thresholds == base.horizontal.thresholds


def test_per_deployment_guards_override_the_shared_ones() -> None:
    policy = from_mapping({"guards": {"max_step_up": 2}, "deployments": {"chat": {"max_step_up": 8}}})
    assert policy.guards_for("chat").max_step_up == 8
    assert policy.guards_for("reasoning").max_step_up == 2


@pytest.mark.parametrize(("text", "where"), [
    ("guards: {scale_out_cooldown: soon}\n", "guards.scale_out_cooldown"),
    ("guards: {colour: red}\n", "guards.colour"),
    ("vertical: {kv_usage_above: 2}\n", "vertical.kv_usage_above"),
])
def test_errors_name_the_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LlmstackError) as caught:
        load_policy(path)
    assert str(path) in caught.value.render() and where in caught.value.render()


def test_missing_empty_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(LlmstackError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(LlmstackError, match="no policy file"):
        load_policy([])
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(LlmstackError, match="a policy file is a mapping"):
        load_policy(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert load_policy(tmp_path / "empty.yaml") == from_mapping({})


def test_a_deployment_override_is_the_policys_guards_with_its_keys_on_top() -> None:
    """Not the defaults with its keys: overriding max_step_up keeps the policy's cooldowns; the stack's
    budget is not copied into a deployment's own cap."""
    policy = from_mapping({"guards": {"max_step_up": 2, "scale_in_cooldown": "10m", "budget_per_hour": 50},
                           "deployments": {"chat": {"max_step_up": 8}, "code": {"budget_per_hour": 9}}})
    chat = policy.guards_for("chat")
    assert (chat.max_step_up, chat.scale_in_cooldown, chat.budget_per_hour) == (8, 600.0, None)
    assert policy.guards_for("code").max_step_up == 2
    assert (policy.deployment_budget("chat"), policy.deployment_budget("code")) == (None, 9.0)
    assert policy.deployment_budget("reasoning") is None and policy.guards_for("reasoning").budget_per_hour == 50
