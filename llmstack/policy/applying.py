"""Apply recommendations: write ``llmstack:scaling`` into ``Pulumi.<stack>.yaml`` and run Pulumi.

The key holds a structured YAML object (``config: llmstack:scaling: {deployment: {replicas,
variant, pool, tensor_parallel}}``), the only keys the policy engine writes. The file is
replaced atomically under a lock file (``.Pulumi.<stack>.yaml.lock``, holding the pid) so two
applies never interleave; a lock whose process is gone is taken over.

Modes: ``config-only`` writes the file and stops; ``preview`` (the default, a dry run) writes
it, runs ``pulumi preview`` and puts the previous file back; ``up`` runs preview then up,
and restores the previous file if either fails. Pulumi runs through ``pulumi.automation``
(a LocalWorkspace on the project folder, the stack selected).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.policy.recommendation import Recommendation, Setting
from llmstack.spec.scaling import CONFIG_KEY, parse_scaling

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


def config_path(project_dir: str | Path, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack.split('/')[-1]}.yaml"


def read_stack_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LlmstackError(f"not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise LlmstackError("a stack file is a mapping with a `config:` mapping", path=str(path))
    return data


def current_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """``llmstack:scaling`` as the stack file has it now (validated)."""
    raw = read_stack_file(path).get("config", {}).get(CONFIG_KEY)
    return {k: v.model_dump(exclude_none=True) for k, v in parse_scaling(raw).items()}


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
    doc = dict(data)
    config = dict(doc.get("config") or {})
    config[CONFIG_KEY] = {k: dict(v) for k, v in scaling.items()}
    doc["config"] = config
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold ``.<name>.lock`` next to ``path``; raise if another live process holds it."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and _pid_alive(holder):
                raise LlmstackError(f"another apply (pid {holder}) holds {lock}", path=str(path),
                                    hint="wait for it to finish; remove the lock file only if no apply runs") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        try:
            yield lock
        finally:
            lock.unlink(missing_ok=True)
        return
    raise LlmstackError(f"could not take the lock {lock}", path=str(path))


class PulumiStack:
    """The Automation API calls the engine makes: select the stack, preview, up."""

    def __init__(self, project_dir: str | Path, stack: str, on_output: Callable[[str], Any] | None = None) -> None:
        from pulumi import automation as auto

        self.on_output = on_output
        try:
            self._stack = auto.select_stack(stack_name=stack, work_dir=str(project_dir))
        except FileNotFoundError as exc:
            raise LlmstackError("the Pulumi CLI (`pulumi`) is not on PATH", hint=INSTALL_HINT) from exc
        except auto.errors.CommandError as exc:
            raise LlmstackError(f"pulumi could not select stack {stack!r}: {_last_lines(str(exc))}",
                                hint="create it with `pulumi stack init`") from exc

    def preview(self) -> tuple[Mapping[str, int], str]:
        from pulumi import automation as auto

        try:
            result = self._stack.preview(on_output=self.on_output, diff=True)
        except auto.errors.CommandError as exc:
            raise LlmstackError(f"pulumi preview failed: {_last_lines(str(exc))}") from exc
        return {str(k): int(v) for k, v in (result.change_summary or {}).items()}, result.stdout

    def up(self) -> Mapping[str, int]:
        from pulumi import automation as auto

        try:
            result = self._stack.up(on_output=self.on_output)
        except auto.errors.CommandError as exc:
            raise LlmstackError(f"pulumi up failed: {_last_lines(str(exc))}") from exc
        return {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}


def _last_lines(text: str, count: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def apply(recommendations: Sequence[Recommendation], project_dir: str | Path, stack: str, *,
          mode: Mode = "preview", on_output: Callable[[str], Any] | None = None,
          pulumi_factory: Callable[[Path, str], PulumiStack] | None = None) -> ApplyResult:
    """Write the proposals into ``Pulumi.<stack>.yaml`` and run Pulumi as ``mode`` says.

    The previous file comes back when Pulumi fails, and always after a ``preview`` dry run.
    """
    project = Path(project_dir)
    path = config_path(project, stack)
    factory = pulumi_factory or (lambda p, s: PulumiStack(p, s, on_output))
    with locked(path):
        previous = path.read_text(encoding="utf-8") if path.exists() else None
        data = read_stack_file(path)
        existing = current_overrides(path)
        scaling = merged_scaling(existing, recommendations)
        changed = scaling != existing
        atomic_write_text(path, render_stack_file(data, scaling))
        if mode == "config-only":
            return ApplyResult(path, scaling, mode, changed)
        restored = False
        try:
            runner = factory(project, stack)
            changes, output = runner.preview()
            up_changes: Mapping[str, int] = {}
            if mode == "up":
                up_changes = runner.up()
        except BaseException:
            _restore(path, previous)
            raise
        if mode == "preview":
            _restore(path, previous)
            restored = True
        return ApplyResult(path, scaling, mode, changed, changes, output, up_changes, restored)


def _restore(path: Path, previous: str | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_text(path, previous)


def settings_from_file(path: Path, defaults: Mapping[str, Setting]) -> dict[str, Setting]:
    """The settings in force: ``defaults`` (the spec) with the stack file's overrides over them."""
    overrides = current_overrides(path)
    out = dict(defaults)
    for name, o in overrides.items():
        if name in out:
            out[name] = out[name].with_(**{k: v for k, v in o.items() if v is not None})
    return out
