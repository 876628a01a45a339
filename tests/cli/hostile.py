"""Run the CLI in this process on hostile input and say how it ended (shared by the hardening and fuzz suites).

:func:`run` calls ``llmstack.cli.app.main`` with a wall-clock alarm (SIGALRM): a command that
does not finish in time is a hang, any exception other than ``SystemExit`` escaping ``main``
is a traceback; otherwise the exit code and the stderr lines are returned.
"""

from __future__ import annotations

import contextlib
import io
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from llmstack.cli import app as cli_app


class Hang(Exception):
    """The command ran past its time limit."""


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    stdout: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(argv: list[str], limit_s: float = 20.0) -> Outcome:
    """Exit code and output of ``llmstack ARGV``; raises :class:`Hang` or the escaped exception."""
    err, out = io.StringIO(), io.StringIO()
    saved = cli_app.err_console.file
    cli_app.err_console.file = err
    code = 0
    try:
        with time_limit(limit_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_app.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        cli_app.err_console.file = saved
    return Outcome(code, err.getvalue(), out.getvalue())
