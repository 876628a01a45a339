"""The one exception type users see.

Library code raises :class:`LlmstackError` with the spec path of the offending
field and, where one exists, a hint; the CLI prints it as one line and exits 2.
"""

from __future__ import annotations


class LlmstackError(Exception):
    """A user-facing error: what is wrong, where (``path``) and what to do (``hint``)."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.path = path
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text
