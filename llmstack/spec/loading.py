"""YAML -> :class:`StackSpec`, turning every failure into one :class:`SpecError`.

YAML syntax errors name the file and line; pydantic errors name the field path,
with list items shown by their ``name`` where they have one
(``deployments[chat].tensor_parallel`` rather than ``deployments.0.tensor_parallel``).
:func:`load_yaml` is the one strict YAML reader (duplicate keys are errors, not "last wins")
and :func:`validation_error` the one mapping from a pydantic ``ValidationError`` to a user
error; policy files and stack configuration use both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmstack.errors import LlmstackError, SpecError
from llmstack.spec.models import StackSpec

MAX_INPUT_BYTES = 512 * 2**20
"""Input files (specs, policies, traces) larger than this are refused rather than read into memory."""


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of an input file (a BOM is dropped); missing, binary or undecodable: :class:`SpecError`."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise SpecError(f"{what} is larger than {MAX_INPUT_BYTES // 2**20} MiB", file=str(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{what} does not exist", file=str(path)) from None
    except IsADirectoryError:
        raise SpecError(f"{what} is a directory", file=str(path)) from None
    except OSError as exc:
        raise SpecError(f"cannot read {what}: {exc.strerror or exc}", file=str(path)) from exc
    if b"\x00" in raw:
        raise SpecError(f"{what} is binary (it holds NUL bytes), not text", file=str(path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{what} is not UTF-8 text (invalid byte at offset {exc.start})", file=str(path)) from None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: construct_mapping reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text strictly; syntax errors and duplicate keys name ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"YAML syntax error: {problem}", file=where) from exc
    except RecursionError as exc:
        raise SpecError("YAML nested too deeply", file=source) from exc


def load_spec(path: str | Path) -> StackSpec:
    """Read and validate the stack spec at ``path``."""
    path = Path(path)
    return with_profile_paths(parse_spec(read_text(path, "spec file"), source=str(path)), path.parent)


def with_profile_paths(stack: StackSpec, base: Path) -> StackSpec:
    """Deployments' ``profile`` paths made absolute against the spec file's directory."""
    if not any(d.profile for d in stack.deployments):
        return stack
    deployments = [d.model_copy(update={"profile": str((base / d.profile).resolve())}) if d.profile else d
                   for d in stack.deployments]
    return stack.model_copy(update={"deployments": deployments})


def parse_spec(text: str, source: str = "<string>") -> StackSpec:
    data = load_yaml(text, source)
    if not isinstance(data, dict):
        raise SpecError(f"a stack spec is a YAML mapping, got {type(data).__name__}", file=source)
    return spec_from_data(data, source)


def spec_from_data(data: dict[str, Any], source: str = "<data>") -> StackSpec:
    try:
        return StackSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data, source) from exc


def validation_error(exc: ValidationError, data: Any, source: str | None, *, prefix: str = "",
                     kind: type[LlmstackError] = SpecError) -> LlmstackError:
    """The first pydantic error as one user error naming ``source`` (the file) and the field path.

    ``prefix`` is where ``data`` sits in its file (``config.llmstack:scaling.chat``).
    """
    first = exc.errors()[0]
    path = field_path(first["loc"], data)
    message = str(first["msg"]).removeprefix("Value error, ")
    extra = f" (and {len(exc.errors()) - 1} more error(s))" if len(exc.errors()) > 1 else ""
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "literal_error":
        message = f"{first.get('input')!r} is not allowed; {message.lower()}"
    elif first["type"] == "finite_number":
        message = f"{first.get('input')!r} is not allowed; a finite number is expected"
    elif first["type"] in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        message = f"{_shown(first.get('input'))} is out of range: {message.lower()}"
    if message.startswith(("deployments[", "routers[")):
        # cross-reference errors from StackSpec carry their own path
        ref_path, _, rest = message.partition(": ")
        return kind(rest + extra, path=ref_path, file=source)
    full = ".".join(p for p in (prefix, path) if p)
    return kind(message + extra, path=full or None, file=source)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def field_path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            label = str(key)
            if isinstance(node, list) and 0 <= key < len(node):
                item = node[key]
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    label = item["name"]
                node = item
            else:
                node = None
            parts.append(f"[{label}]")
        else:
            # union members ("str", "AcceleratorSpec", "function-after[...]") are not fields
            if isinstance(node, dict) and key in node:
                node = node[key]
                parts.append(f".{key}" if parts else str(key))
            elif node is None or (isinstance(node, dict) and not _is_type_tag(key)):
                node = None
                parts.append(f".{key}" if parts else str(key))
    return "".join(parts)


def _is_type_tag(key: str) -> bool:
    return key[:1].isupper() or "[" in key or key in {"str", "int", "float", "bool", "dict", "list"}
