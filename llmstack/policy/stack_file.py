"""The Pulumi stack file (``Pulumi.<stack>.yaml``) as the policy engine reads and edits it.

- Round-trip YAML (ruamel.yaml): the user's comments, key order and layout survive an edit;
  only the ``llmstack:scaling`` entries that change are touched. Duplicate keys are an error.
- Writes are one atomic step (:func:`llmstack.fileio.atomic_write_text`: a temporary file in
  the same folder, fsync, ``os.replace``, fsync of the folder).
- Candidates (the configuration Pulumi previews before anyone approved it) are separate
  files next to the stack file (``.Pulumi.<stack>.yaml.<random>.tmp.yaml``), never the stack
  file itself.
- One OS lock (``filelock``, ``flock`` on ``.Pulumi.<stack>.yaml.lock``) serialises the
  writers; the kernel releases it when its process dies, so a killed run never blocks the
  next. :func:`recover`, called under the lock, removes the temporary files of crashed runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import filelock
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from llmstack.errors import ApplyError, LlmstackError, SpecError
from llmstack.fileio import atomic_write_text
from llmstack.spec.models import StackSpec
from llmstack.spec.scaling import CONFIG_KEY, apply_scaling, parse_scaling

TEMP_GLOBS = (".{name}.*.tmp", ".{name}.*.tmp.yaml")
"""Names of this module's temporary files (atomic-write temps and candidates) next to the stack file."""


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    return y


def load(path: Path) -> CommentedMap:
    """The stack file as a round-trip document; an absent file is an empty one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return CommentedMap()
    except OSError as exc:
        raise SpecError(f"cannot read the stack file: {exc.strerror}", file=str(path)) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc
    return parse(text, str(path))


def parse(text: str, source: str) -> CommentedMap:
    try:
        doc = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: {problem}", file=source) from exc
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config") or {}, dict):
        raise SpecError("a stack file is a mapping with a `config:` mapping", file=source)
    return doc


def config(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc.get("config") or {}


def overrides(doc: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """``llmstack:scaling`` of ``doc``, validated; an invalid entry names the file and key."""
    try:
        parsed = parse_scaling(config(doc).get(CONFIG_KEY))
    except LlmstackError as exc:
        raise SpecError(exc.message, path=f"config.{exc.path}", hint=exc.hint, file=source) from exc
    return {k: v.model_dump(exclude_none=True) for k, v in parsed.items()}


def check_against(stack: StackSpec, doc: Mapping[str, Any], source: str) -> None:
    """Refuse hand edits the spec does not allow (replicas outside min..max, unknown pool), naming the key."""
    try:
        apply_scaling(stack, parse_scaling(config(doc).get(CONFIG_KEY)))
    except SpecError:
        raise
    except LlmstackError as exc:
        raise SpecError(exc.message, path=f"config.{exc.path}", hint=exc.hint, file=source) from exc


def render(doc: Mapping[str, Any], scaling: Mapping[str, Mapping[str, Any]]) -> str:
    """The text of ``doc`` with ``llmstack:scaling`` set to ``scaling``, edited in place (comments kept)."""
    out = doc if isinstance(doc, CommentedMap) else CommentedMap(doc)
    if not isinstance(out.get("config"), dict):
        out["config"] = CommentedMap()
    cfg = out["config"]
    node = cfg.get(CONFIG_KEY)
    if not isinstance(node, dict):
        cfg[CONFIG_KEY] = node = CommentedMap()
    _set_mapping(node, {name: dict(knobs) for name, knobs in scaling.items()})
    buffer = io.StringIO()
    _yaml().dump(out, buffer)
    return buffer.getvalue()


def _set_mapping(node: dict[str, Any], wanted: Mapping[str, Any]) -> None:
    for key in [k for k in node if k not in wanted]:
        del node[key]
    for key, value in wanted.items():
        if isinstance(value, dict):
            if not isinstance(node.get(key), dict):
                node[key] = CommentedMap()
            _set_mapping(node[key], value)
        elif key not in node or node[key] != value:
            node[key] = value


def check_writable(path: Path) -> None:
    """Refuse before anything runs when the stack file (read-only, immutable) or its folder cannot be written."""
    if path.exists() and (not path.stat().st_mode & 0o222 or not _opens_for_append(path)):
        raise ApplyError("the stack file is read-only", file=str(path),
                         hint="make it writable (chmod u+w, chattr -i) or run as its owner")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ApplyError(f"the folder {folder} is not writable (a new stack file is written beside the old)",
                         file=str(path))


def _opens_for_append(path: Path) -> bool:
    """Whether the kernel lets us write ``path`` (catches immutable files, which root cannot write either)."""
    try:
        with path.open("ab"):
            return True
    except OSError:
        return False


def commit(path: Path, text: str) -> None:
    """Replace the stack file with ``text`` in one atomic step."""
    check_writable(path)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ApplyError(f"cannot write the stack file: {exc.strerror or exc}", file=str(path),
                         hint="it was left as it was") from exc


@contextlib.contextmanager
def candidate(path: Path, text: str) -> Iterator[Path]:
    """A candidate configuration beside ``path`` (``.yaml``, for Pulumi's ``--config-file``), removed after."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.yaml", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ApplyError(f"cannot write a candidate configuration: {exc.strerror or exc}", file=str(path)) from exc
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def recover(path: Path) -> list[Path]:
    """Remove the temporary files crashed runs left beside ``path``; call only under :func:`locked`."""
    removed: list[Path] = []
    for pattern in TEMP_GLOBS:
        for leftover in path.parent.glob(pattern.format(name=path.name)):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
    return removed


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold the OS lock of ``path``; raise :class:`ApplyError` at once if another process holds it."""
    where = lock_path(path)
    lock = filelock.FileLock(str(where), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ApplyError(f"another apply holds {where}", file=str(path),
                         hint="wait for it to finish (the lock is released when that process exits)") from None
    except OSError as exc:
        raise ApplyError(f"cannot take the lock {where}: {exc.strerror or exc}", file=str(path)) from exc
    try:
        yield where
    finally:
        lock.release()
