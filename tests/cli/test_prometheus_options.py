"""One Prometheus options object: every command spells the connection flags the same way, and they reach Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import llmstack.cli.apply
import llmstack.cli.assess
import llmstack.cli.controller
import llmstack.cli.recommend
import llmstack.cli.watch  # noqa: F401  (each module adds its command to the app)
from llmstack.catalog import signals
from llmstack.cli.app import app
from tests.conftest import EXAMPLE_SPEC
from tests.policy.servers import FakePrometheus

CONNECTION = ("--prometheus", "--timeout", "--username", "--password", "--bearer-token", "--insecure", "--ca-file")
COMMANDS = {"recommend": True, "watch": True, "apply": True, "assess": False, "controller": True}
"""command -> whether it reads the signals (and so takes --recording-rules)."""


def _options(command: str) -> dict[str, Any]:
    """flag -> the click option typer built for it (typer ships its own click, so no isinstance)."""
    group: Any = typer.main.get_command(app)
    return {flag: param for param in group.commands[command].params for flag in param.opts}


def _shape(option: Any) -> tuple[Any, ...]:
    return option.default, option.envvar, option.help, option.is_flag, option.min, str(option.display_type)


def test_every_command_spells_the_connection_flags_alike() -> None:
    reference = _options("recommend")
    for command, reads_signals in COMMANDS.items():
        options = _options(command)
        for flag in CONNECTION[1:]:
            assert _shape(options[flag]) == _shape(reference[flag]), (command, flag)
        assert ("--recording-rules" in options) is reads_signals, command
    assert reference["--prometheus"].required and _options("watch")["--prometheus"].required
    assert not _options("apply")["--prometheus"].required and not _options("assess")["--prometheus"].required
    assert not _options("controller")["--prometheus"].required  # default: the spec's controller.prometheus_url


@pytest.mark.parametrize("command", ["recommend", "watch"])
def test_recording_rules_and_credentials_reach_prometheus(command: str, tmp_path: Path) -> None:
    records = {s.record for s in signals.signals()}
    with FakePrometheus(lambda expr: []) as prom:
        args = [command, "--prometheus", prom.url, "--spec", str(EXAMPLE_SPEC), "--recording-rules",
                "--bearer-token", "t0ken", "--audit-log", str(tmp_path / "audit.jsonl"), "--json"]
        if command == "watch":
            args += ["--cycles", "1", "--state-file", str(tmp_path / "state.json")]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    asked = [expr for expr, _ in prom.requests]
    assert any(expr.startswith(tuple(records)) for expr in asked), asked[:5]
    assert all(headers.get("Authorization") == "Bearer t0ken" for _, headers in prom.requests)
