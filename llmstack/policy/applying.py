"""Apply recommendations to ``llmstack:scaling`` of ``Pulumi.<stack>.yaml`` as a transaction.

The key holds a structured YAML object (``config: llmstack:scaling: {deployment: {replicas,
variant, pool, tensor_parallel}}``), the only keys the policy engine writes.

Modes: ``config-only`` replaces the stack file and stops; ``preview`` (the default, a dry
run) writes a *candidate* configuration beside the stack file and runs ``pulumi preview
--config-file <candidate>``: the stack file is never touched; ``up`` previews the candidate,
runs ``pulumi up --config-file <candidate>`` and, only when that succeeds, replaces the stack
file with the candidate in one atomic step. So a crash or a kill at any point leaves the
stack file as it was or as approved, never a candidate that nobody approved. Everything runs
under the stack file's OS lock; a run first removes the temporary files of crashed ones
(:mod:`llmstack.policy.stack_file`). Pulumi runs through ``pulumi.automation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmstack.errors import ApplyError
from llmstack.policy import stack_file
from llmstack.policy.recommendation import Recommendation, Setting

Mode = Literal["config-only", "preview", "up"]
INSTALL_HINT = ("install it with `curl -fsSL https://get.pulumi.com | sh` (see https://www.pulumi.com/docs/install/), "
                "or pass --config-only to only update the stack file")


@dataclass(frozen=True)
class ApplyResult:
    config_path: Path
    scaling: dict[str, dict[str, Any]]
    mode: Mode
    changed: bool
    preview_changes: Mapping[str, int] = field(default_factory=dict)
    preview_output: str = ""
    up_changes: Mapping[str, int] = field(default_factory=dict)
    restored: bool = False
    """True for a dry run: the stack file was left exactly as it was."""


def config_path(project_dir: str | Path, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack.split('/')[-1]}.yaml"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file as a (round-trip) mapping; ``{}`` when absent."""
    return stack_file.load(path)


def current_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """``llmstack:scaling`` as the stack file has it now (validated)."""
    return stack_file.overrides(stack_file.load(path), str(path))


def merged_scaling(existing: Mapping[str, Mapping[str, Any]],
                   recommendations: Sequence[Recommendation]) -> dict[str, dict[str, Any]]:
    """``existing`` overrides with every recommendation's changed knobs laid over them (pure)."""
    out = {k: dict(v) for k, v in existing.items()}
    for rec in recommendations:
        entry = out.setdefault(rec.deployment, {})
        for key, value in rec.proposed.to_json().items():
            if value != rec.current.to_json()[key] or key in entry:
                entry[key] = value
    return {k: out[k] for k in sorted(out)}


def render_stack_file(data: Mapping[str, Any], scaling: Mapping[str, Mapping[str, Any]]) -> str:
    """The stack file text with ``llmstack:scaling`` set (comments and layout of ``data`` kept)."""
    return stack_file.render(data, scaling)


locked = stack_file.locked


class PulumiStack:
    """The Automation API calls the engine makes: select the stack, preview and up on a config file."""

    def __init__(self, project_dir: str | Path, stack: str, on_output: Callable[[str], Any] | None = None) -> None:
        from pulumi import automation as auto

        self.on_output = on_output
        try:
            self._stack = auto.select_stack(stack_name=stack, work_dir=str(project_dir))
        except FileNotFoundError as exc:
            raise ApplyError("the Pulumi CLI (`pulumi`) is not on PATH", hint=INSTALL_HINT) from exc
        except auto.errors.CommandError as exc:
            raise ApplyError(f"pulumi could not select stack {stack!r}: {_last_lines(str(exc))}",
                             hint="create it with `pulumi stack init`") from exc

    def preview(self, config_file: Path) -> tuple[Mapping[str, int], str]:
        from pulumi import automation as auto

        try:
            result = self._stack.preview(on_output=self.on_output, diff=True, config_file=str(config_file))
        except auto.errors.CommandError as exc:
            raise ApplyError(f"pulumi preview failed: {_last_lines(str(exc))}") from exc
        return {str(k): int(v) for k, v in (result.change_summary or {}).items()}, result.stdout

    def up(self, config_file: Path) -> Mapping[str, int]:
        from pulumi import automation as auto

        try:
            result = self._stack.up(on_output=self.on_output, config_file=str(config_file))
        except auto.errors.CommandError as exc:
            raise ApplyError(f"pulumi up failed: {_last_lines(str(exc))}") from exc
        return {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}


def _last_lines(text: str, count: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def apply(recommendations: Sequence[Recommendation], project_dir: str | Path, stack: str, *,
          mode: Mode = "preview", on_output: Callable[[str], Any] | None = None,
          pulumi_factory: Callable[[Path, str], PulumiStack] | None = None) -> ApplyResult:
    """Apply ``recommendations`` as ``mode`` says, as one transaction on ``Pulumi.<stack>.yaml``.

    The stack file changes only in ``config-only`` mode or after a successful ``pulumi up``.
    """
    project = Path(project_dir)
    path = config_path(project, stack)
    factory = pulumi_factory or (lambda p, s: PulumiStack(p, s, on_output))
    with stack_file.locked(path):
        stack_file.recover(path)
        doc = stack_file.load(path)
        existing = stack_file.overrides(doc, str(path))
        scaling = merged_scaling(existing, recommendations)
        text = stack_file.render(doc, scaling)
        stack_file.check_writable(path)
        changed = scaling != existing
        if mode == "config-only":
            stack_file.commit(path, text)
            return ApplyResult(path, scaling, mode, changed)
        with stack_file.candidate(path, text) as candidate:
            runner = factory(project, stack)
            changes, output = runner.preview(candidate)
            if mode == "preview":
                return ApplyResult(path, scaling, mode, changed, changes, output, restored=True)
            up_changes = runner.up(candidate)
            _commit_after_up(path, text)
        return ApplyResult(path, scaling, mode, changed, changes, output, up_changes)


def _commit_after_up(path: Path, text: str) -> None:
    try:
        stack_file.commit(path, text)
    except ApplyError as exc:
        raise ApplyError(f"pulumi up applied the change but {exc.message}", file=exc.file,
                         hint="write llmstack:scaling by hand, or run apply again once the file is writable") from exc


def settings_from_file(path: Path, defaults: Mapping[str, Setting]) -> dict[str, Setting]:
    """The settings in force: ``defaults`` (the spec) with the stack file's overrides over them."""
    overrides = current_overrides(path)
    out = dict(defaults)
    for name, o in overrides.items():
        if name in out:
            out[name] = out[name].with_(**{k: v for k, v in o.items() if v is not None})
    return out
