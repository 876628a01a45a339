"""The exception types users see.

Library code raises :class:`LlmstackError` (or one of its kinds below) naming the real input:
the ``file`` it came from and the ``path`` of the offending field inside it, with a hint where
one exists; the CLI prints it as one line (or one JSON object under ``--json``) and exits 2.
"""

from __future__ import annotations

import re
from typing import Any

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it (``scheme://user:pass@``) replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class LlmstackError(Exception):
    """A user-facing error: what is wrong, where (``file``, ``path``) and what to do (``hint``)."""

    kind = "error"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 file: str | None = None) -> None:
        self.message = message
        self.path = path
        self.hint = hint
        self.file = file
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(p for p in (self.file, self.path) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return redact(text)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": redact(self.message), "file": self.file, "path": self.path,
                "hint": self.hint, "text": self.render()}


class SpecError(LlmstackError):
    """A stack spec, trace or other input file is unreadable or invalid."""

    kind = "spec"


class PolicyError(LlmstackError):
    """A policy file is invalid, or a decision cannot be made from what was read."""

    kind = "policy"


class ApplyError(LlmstackError):
    """The stack file cannot be changed or Pulumi failed: nothing unapproved was written."""

    kind = "apply"


class MetricsError(LlmstackError):
    """Prometheus could not answer: unreachable, too slow, refused, or an unusable answer."""

    kind = "metrics"
