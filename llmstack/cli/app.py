"""The ``llmstack`` command: a typer app with one module per command.

User errors (:class:`LlmstackError`) are caught here, in one place, and printed as one
line on stderr with exit code 2; ``--debug`` shows the traceback instead. SIGTERM is turned
into an exception (exit 143) so that a terminated command unwinds like an interrupted one:
its temporary files are removed and its locks released.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import signal
import sys
import threading
import typing
from types import FrameType

import typer
import typer.main
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from llmstack.errors import LlmstackError

app = typer.Typer(
    name="llmstack",
    help="Self-hosted LLM serving as code: plan capacity, render artifacts, simulate and scale vLLM fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show tracebacks for errors")) -> None:
    _state["debug"] = debug


NOT_COMMANDS = {"app", "output"}


def _register() -> None:
    """Import every command module of this package; each adds its commands to ``app``."""
    import llmstack.cli

    for module in sorted(pkgutil.iter_modules(llmstack.cli.__path__), key=lambda m: m.name):
        if module.name not in NOT_COMMANDS and not module.name.startswith("_"):
            importlib.import_module(f"llmstack.cli.{module.name}")


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (``finally`` blocks run) and exit 143."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(143)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: usage errors are typer's (exit 2), user errors one line (exit 2), Ctrl-C exit 130."""
    _register()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        _run(argv)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def report(exc: LlmstackError, *, as_json: bool) -> None:
    """One line on stderr, or under ``--json`` one JSON object ``{"error": {...}}`` on stdout."""
    if as_json:
        print(json.dumps({"error": exc.to_json()}), flush=True)
    else:
        err_console.print(f"[bold red]error:[/] {escape(exc.render())}", highlight=False, soft_wrap=True)


def _float_options(command: str) -> set[str]:
    """The option names of ``command`` whose values are floats."""
    group = typer.main.get_command(app)
    sub = getattr(group, "commands", {}).get(command)
    out: set[str] = set()
    for param in getattr(sub, "params", []):
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if annotation is float or float in typing.get_args(annotation):
            out.update(param.opts)
    return out


def check_finite_floats(argv: list[str]) -> None:
    """Refuse ``nan``/``inf`` for every float option before the command runs: no option takes them."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None:
        return
    floats = _float_options(command)
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if not eq:
            name, value = token, argv[i + 1] if i + 1 < len(argv) else ""
        if name not in floats:
            continue
        try:
            number = float(value)
        except ValueError:
            continue  # typer reports what is not a number
        if not math.isfinite(number):
            raise LlmstackError(f"{value!r} is not a finite number", path=name)


def _run(argv: list[str] | None) -> None:
    try:
        check_finite_floats(list(sys.argv[1:] if argv is None else argv))
        app(args=argv)  # standalone mode: typer prints usage errors itself and exits
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        return  # success: return to in-process callers (tests, the demo) instead of exiting
    except LlmstackError as exc:
        if _state["debug"]:
            raise
        report(exc, as_json="--json" in (sys.argv[1:] if argv is None else argv))
        sys.exit(2)
    except ValidationError as exc:  # a model built from arguments no check above caught: still one line
        if _state["debug"]:
            raise
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err_console.print(f"[bold red]error:[/] {escape(where)}: {escape(first['msg'])}", highlight=False,
                          soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
