"""The last GPU assignment of a Docker stack, kept in a JSON file between ``pulumi up`` runs.

Edge module. The allocator (:mod:`.allocation`) keeps existing replicas on their devices
only if it knows where they are; the Pulumi program reads this file before planning and
writes the new assignment after (never during a preview). The file holds
``{"deployment": [[device ids of replica 0], [replica 1], ...]}``; a missing file means a
fresh host.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text

STATE_DIR = ".llmstack"


def state_path(root: Path, stack: str) -> Path:
    """Where the assignment of Pulumi stack ``stack`` lives under the project ``root``."""
    return root / STATE_DIR / f"docker-gpus.{stack}.json"


def load_assignment(path: Path) -> dict[str, list[list[int]]]:
    """The assignment in ``path`` ({} when the file does not exist)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LlmstackError(f"not valid JSON: {exc.msg} at line {exc.lineno}", path=str(path),
                            hint="delete the file to assign GPUs afresh (containers may move)") from exc
    if not isinstance(data, dict) or not all(
        isinstance(replicas, list)
        and all(isinstance(ids, list) and all(isinstance(i, int) for i in ids) for ids in replicas)
        for replicas in data.values()
    ):
        raise LlmstackError("expected {deployment: [[device ids], ...]}", path=str(path),
                            hint="delete the file to assign GPUs afresh (containers may move)")
    return {str(name): [list(ids) for ids in replicas] for name, replicas in data.items()}


def save_assignment(path: Path, assignment: dict[str, list[list[int]]]) -> None:
    atomic_write_text(path, json.dumps(assignment, indent=2, sort_keys=True) + "\n")
