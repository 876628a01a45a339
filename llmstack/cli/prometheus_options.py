"""One typed options object for the Prometheus connection of ``recommend``, ``watch``, ``apply`` and ``assess``.

A command declares ``prom: PrometheusOptions`` as a parameter and is decorated with
:func:`prometheus_options`; the decorator puts the flags (``--prometheus``, ``--timeout``,
``--username``, ``--password``, ``--bearer-token``, ``--insecure``, ``--ca-file`` and, where the
command reads the signals, ``--recording-rules``) into the command's signature in place of
``prom`` and hands the command one :class:`PrometheusOptions`. So every command spells the flags,
their defaults, environment variables and help the same way (a test checks it).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from llmstack.metrics.reading import PrometheusReader

PARAMETER = "prom"
"""The name of the command parameter that receives the options."""


@dataclass(frozen=True)
class PrometheusOptions:
    """Where Prometheus is and how to talk to it."""

    url: str | None
    timeout_s: float = 5.0
    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    insecure: bool = False
    ca_file: Path | None = None
    recording_rules: bool = False
    """Query the recording-rule names instead of raw PromQL."""

    def reader(self) -> PrometheusReader:
        """A reader for ``url`` (the command checks that one was given when it is optional)."""
        assert self.url is not None
        return PrometheusReader(self.url, timeout_s=self.timeout_s, username=self.username, password=self.password,
                                bearer_token=self.bearer_token, verify=not self.insecure, ca_file=self.ca_file)


def _flags(url_required: bool, url_help: str, recording_rules: bool) -> list[tuple[str, Any, Any]]:
    """(parameter name, annotation, typer option) of every flag, in the order ``--help`` lists them."""
    flags: list[tuple[str, Any, Any]] = [
        ("prometheus", str if url_required else str | None,
         typer.Option(... if url_required else None, "--prometheus", help=url_help)),
        ("timeout", float, typer.Option(5.0, "--timeout", min=0.1, help="seconds per Prometheus query")),
        ("username", str | None, typer.Option(None, "--username", envvar="LLMSTACK_PROMETHEUS_USER",
                                              help="basic auth user")),
        ("password", str | None, typer.Option(None, "--password", envvar="LLMSTACK_PROMETHEUS_PASSWORD",
                                              help="basic auth password")),
        ("bearer_token", str | None, typer.Option(None, "--bearer-token", envvar="LLMSTACK_PROMETHEUS_TOKEN",
                                                  help="bearer token")),
        ("insecure", bool, typer.Option(False, "--insecure", help="do not verify Prometheus' TLS certificate")),
        ("ca_file", Path | None, typer.Option(None, "--ca-file", help="CA bundle that signed Prometheus' certificate")),
    ]
    if recording_rules:
        flags.append(("recording_rules", bool, typer.Option(False, "--recording-rules",
                                                            help="query the recording-rule names instead of raw "
                                                                 "PromQL")))
    return flags


def _options(values: dict[str, Any]) -> PrometheusOptions:
    return PrometheusOptions(url=values["prometheus"], timeout_s=values["timeout"], username=values["username"],
                             password=values["password"], bearer_token=values["bearer_token"],
                             insecure=values["insecure"], ca_file=values["ca_file"],
                             recording_rules=values.get("recording_rules", False))


def prometheus_options(*, url_required: bool = True, url_help: str = "Prometheus base URL, e.g. http://127.0.0.1:9090",
                       recording_rules: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate a command taking ``prom: PrometheusOptions``: typer sees the flags instead of ``prom``."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        flags = _flags(url_required, url_help, recording_rules)
        names = [name for name, _, _ in flags]
        signature = inspect.signature(command, eval_str=True)
        hints = typing.get_type_hints(command)
        params: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            if param.name == PARAMETER:
                params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                           for name, kind, option in flags]
            else:
                params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY,
                                            annotation=hints.get(param.name, param.annotation)))
        if len(params) == len(signature.parameters):
            raise TypeError(f"{command.__name__} has no {PARAMETER!r} parameter")

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in names}
            command(**{PARAMETER: _options(values)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return wrapper

    return decorate
