"""YAML -> :class:`StackSpec`, turning every failure into one :class:`LlmstackError`.

YAML syntax errors name the file and line; pydantic errors name the field path,
with list items shown by their ``name`` where they have one
(``deployments[chat].tensor_parallel`` rather than ``deployments.0.tensor_parallel``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec


def load_spec(path: str | Path) -> StackSpec:
    """Read and validate the stack spec at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LlmstackError(f"spec file {str(path)!r} does not exist", path="--spec") from None
    except OSError as exc:
        raise LlmstackError(f"cannot read spec file {str(path)!r}: {exc.strerror}", path="--spec") from exc
    return with_profile_paths(parse_spec(text, source=str(path)), path.parent)


def with_profile_paths(stack: StackSpec, base: Path) -> StackSpec:
    """Deployments' ``profile`` paths made absolute against the spec file's directory."""
    if not any(d.profile for d in stack.deployments):
        return stack
    deployments = [d.model_copy(update={"profile": str((base / d.profile).resolve())}) if d.profile else d
                   for d in stack.deployments]
    return stack.model_copy(update={"deployments": deployments})


def parse_spec(text: str, source: str = "<string>") -> StackSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise LlmstackError(f"YAML syntax error: {problem}", path=where) from exc
    if not isinstance(data, dict):
        raise LlmstackError(f"a stack spec is a YAML mapping, got {type(data).__name__}", path=source)
    return spec_from_data(data, source)


def spec_from_data(data: dict[str, Any], source: str = "<data>") -> StackSpec:
    try:
        return StackSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data, source) from exc


def validation_error(exc: ValidationError, data: Any, source: str) -> LlmstackError:
    """The first pydantic error as an :class:`LlmstackError` with a readable field path."""
    first = exc.errors()[0]
    path = field_path(first["loc"], data)
    message = first["msg"]
    message = message.removeprefix("Value error, ")
    extra = ""
    if len(exc.errors()) > 1:
        extra = f" (and {len(exc.errors()) - 1} more error(s))"
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "literal_error":
        message = f"{first.get('input')!r} is not allowed; {message.lower()}"
    if message.startswith(("deployments[", "routers[")):
        # cross-reference errors from StackSpec carry their own path
        ref_path, _, rest = message.partition(": ")
        return LlmstackError(rest + extra, path=ref_path)
    return LlmstackError(message + extra, path=f"{path}" if path else source)


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
