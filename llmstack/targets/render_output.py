"""Writing a render to a folder for GitOps: every file atomically, a manifest of what was written,
and ``--prune`` of what an earlier render wrote and this one no longer does.

The manifest (``.llmstack-render.json`` in the output folder) lists the relative paths of the
last render. With ``prune`` the files it lists that the new render does not write (a
deployment removed from the spec, a router switched to inference-gateway) are deleted, and
folders left empty with them; files llmstack never wrote are never touched. Called by
``llmstack render``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text

MANIFEST = ".llmstack-render.json"


@dataclass(frozen=True)
class WriteResult:
    written: list[str]
    removed: list[str]
    stale: list[str]
    """Files the previous render wrote that this one did not and that were kept (no ``prune``)."""


def _safe(relative: str) -> bool:
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts and relative != MANIFEST


def previous_files(out: Path) -> list[str]:
    """Relative paths the last render into ``out`` wrote (empty when there was none)."""
    manifest = out / MANIFEST
    if not manifest.exists():
        return []
    try:
        data = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise LlmstackError(f"{manifest} is not valid JSON: {exc.msg}", hint="delete it and render again") from exc
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise LlmstackError(f"{manifest} has no list of files", hint="delete it and render again")
    return [f for f in files if _safe(f)]


def _remove(out: Path, relative: str) -> bool:
    path = out / relative
    if not path.is_file():
        return False
    path.unlink()
    folder = path.parent
    while folder != out and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
    return True


def write(out: Path, files: dict[str, str], *, prune: bool = False, target: str = "") -> WriteResult:
    """Write ``files`` under ``out``, then the manifest; with ``prune`` delete what the last render left behind."""
    for relative in files:
        if not _safe(relative):
            raise LlmstackError(f"refusing to write {relative!r} outside {out}")
    before = previous_files(out)
    for relative, text in sorted(files.items()):
        atomic_write_text(out / relative, text)
    gone = sorted(set(before) - set(files))
    removed = [r for r in gone if _remove(out, r)] if prune else []
    atomic_write_text(out / MANIFEST, json.dumps({"target": target, "files": sorted(files)}, indent=2) + "\n")
    return WriteResult(written=sorted(files), removed=removed, stale=[] if prune else gone)
